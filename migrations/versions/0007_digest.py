"""Weekly digest: members' send-time preferences and one delivery row per member per ISO week.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:02:03.361828

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "digest_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("iso_week", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_digest_delivery_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_delivery")),
        # The claim: one row per member per week, whatever runs at the same time.
        sa.UniqueConstraint(
            "user_id", "iso_week", name=op.f("uq_digest_delivery_user_id_iso_week")
        ),
    )
    with op.batch_alter_table("digest_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_digest_delivery_week_status", ["iso_week", "status"], unique=False
        )

    op.create_table(
        "digest_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_digest_preference_hour")),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_digest_preference_weekday")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_digest_preference_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_digest_preference")),
    )


def downgrade():
    op.drop_table("digest_preference")
    with op.batch_alter_table("digest_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_delivery_week_status")
    op.drop_table("digest_delivery")
