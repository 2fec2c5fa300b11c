"""Account forms; every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from forum.accounts.passwords import MAX_LENGTH, MIN_LENGTH

_EMAIL = {"autocomplete": "email", "spellcheck": "false", "autocapitalize": "none"}
_CODE = {
    "autocomplete": "one-time-code",
    "spellcheck": "false",
    "autocapitalize": "none",
    "inputmode": "text",
}


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=MAX_LENGTH)],
        description=f"At least {MIN_LENGTH} characters; a short sentence works well.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class ActionForm(FlaskForm):
    """A button that changes something: nothing but the CSRF token."""


class SignUpForm(FlaskForm):
    """A newcomer's details."""

    email = EmailField(
        "E-mail address",
        validators=[DataRequired(), Length(max=254)],
        description="Your hospital or practice address speeds up verification.",
        render_kw=_EMAIL,
    )
    display_name = StringField(
        "Display name",
        validators=[DataRequired(), Length(max=40)],
        description="How colleagues see you when you post under your name.",
        render_kw={"autocomplete": "nickname"},
    )
    first_name = StringField(
        "Legal first name",
        validators=[DataRequired(), Length(max=80)],
        description="As on your medical licence; used only to verify you.",
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        "Legal last name",
        validators=[DataRequired(), Length(max=80)],
        render_kw={"autocomplete": "family-name"},
    )
    password, password_confirm = _new_password_fields()


class SignInForm(FlaskForm):
    """Address and password."""

    email = EmailField(
        "E-mail address",
        validators=[DataRequired(), Length(max=254)],
        render_kw={**_EMAIL, "autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class CodeForm(FlaskForm):
    """A six-digit code from the authenticator app, or a recovery code."""

    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=40)],
        description="The six digits your authenticator app shows, or one of your recovery codes.",
        render_kw=_CODE,
    )


class EnrolForm(FlaskForm):
    """The first code from a newly added authenticator."""

    code = StringField(
        "Six-digit code",
        validators=[DataRequired(), Length(max=12)],
        description="Type the code your app shows now to prove it holds the secret.",
        render_kw={**_CODE, "inputmode": "numeric"},
    )


class ReauthForm(FlaskForm):
    """Password and code again, before a sensitive change."""

    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Code",
        validators=[DataRequired(), Length(max=40)],
        description="From your authenticator app, or a recovery code.",
        render_kw=_CODE,
    )


class ForgotPasswordForm(FlaskForm):
    """The address to send a reset link to."""

    email = EmailField(
        "E-mail address", validators=[DataRequired(), Length(max=254)], render_kw=_EMAIL
    )


class NewPasswordForm(FlaskForm):
    """A new password, typed twice."""

    password, password_confirm = _new_password_fields()


class ChangeEmailForm(FlaskForm):
    """The new address; it counts once its link is followed."""

    email = EmailField(
        "New e-mail address", validators=[DataRequired(), Length(max=254)], render_kw=_EMAIL
    )
