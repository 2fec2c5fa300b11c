"""Administration forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class RolesForm(FlaskForm):
    """The staff roles a member holds."""

    verifier = BooleanField("Verifier: decides physician verifications")
    moderator = BooleanField("Moderator: reviews held posts and flags")
    admin = BooleanField("Admin: everything, including roles and the audit log")


class SuspendForm(FlaskForm):
    """Why a member is suspended (kept in the record, shown to them)."""

    reason = TextAreaField(
        "Reason", validators=[DataRequired(), Length(min=3, max=500)], render_kw={"rows": 3}
    )


class MemberSearchForm(FlaskForm):
    """Find members by address or name (a GET form: nothing changes)."""

    class Meta:
        csrf = False

    q = StringField("Address or name", validators=[Optional(), Length(max=254)])


class AuditFilterForm(FlaskForm):
    """Narrow the audit log (a GET form: nothing changes)."""

    class Meta:
        csrf = False

    # Choices are filled by the view from the log; declaring them here as (value, label)
    # tuples is deprecated by WTForms 3.3 and warns on every request.
    action = SelectField(
        "Action",
        validate_choice=False,
        validators=[Optional(), Length(max=64)],
    )
    actor = StringField(
        "Actor", description="An e-mail address or #id.", validators=[Optional(), Length(max=254)]
    )
    target = StringField(
        "Target", description="Like user_account:12.", validators=[Optional(), Length(max=64)]
    )
    ip = StringField("IP address", validators=[Optional(), Length(max=45)])
    since = DateField("From", validators=[Optional()])
    until = DateField("Until", validators=[Optional()])
