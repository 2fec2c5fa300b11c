"""Search: the outbox on every database; the full-text documents table on PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 14:40:00.102576

"""

import sqlalchemy as sa
from alembic import op

from forum.search import pg_backend

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "search_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "post_id IS NOT NULL OR thread_id IS NOT NULL",
            name=op.f("ck_search_outbox_names_post_or_thread"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_outbox")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        pg_backend.create_schema(bind)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        pg_backend.drop_schema(bind)
    op.drop_table("search_outbox")
