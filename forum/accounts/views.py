"""Sign-up, sign-in, two factors, and the member's own security settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from forum.access import password_only, public, safe_next_url, signed_in
from forum.accounts import services, sessions, totp
from forum.accounts.forms import (
    ActionForm,
    ChangeEmailForm,
    CodeForm,
    EnrolForm,
    ForgotPasswordForm,
    NewPasswordForm,
    ReauthForm,
    SignInForm,
    SignUpForm,
)
from forum.accounts.services import AccountError, CodeCheck, CodeOutcome
from forum.accounts.tokens import TokenError, TokenExpired
from forum.extensions import limiter

bp = Blueprint("accounts", __name__)

View = str | Response | tuple[str, int]
INVALID = 422


def _limit(setting: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"])


def _show_error(form: FlaskForm, error: AccountError) -> None:
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def _after_sign_in() -> str:
    return safe_next_url(request.args.get("next"), url_for("pages.index"))


def fresh_required(view: Callable[..., View]) -> Callable[..., View]:
    """Send the member to re-enter password and code unless they did so minutes ago."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> View:
        if not sessions.recently_reauthenticated():
            return redirect(url_for("accounts.reauthenticate", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def _code_failure(form: FlaskForm, check: CodeCheck) -> None:
    if check.outcome is CodeOutcome.LOCKED:
        flash(
            "Too many wrong codes: two-factor sign-in is locked for 15 minutes. "
            "Wait, then try again with a new code.",
            "error",
        )
    else:
        form.code.errors = [
            *form.code.errors,
            "That code is not right, or was already used. Try the next one.",
        ]


# --- Sign-up and confirmation ------------------------------------------------------------------


@bp.route("/sign-up", methods=["GET", "POST"])
@public
@_limit("RATELIMIT_SIGN_UP")
def sign_up() -> View:
    """Create an account."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.index"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            services.register(
                services.SignUp(
                    email=form.email.data or "",
                    password=form.password.data or "",
                    display_name=form.display_name.data or "",
                    first_name=form.first_name.data or "",
                    last_name=form.last_name.data or "",
                )
            )
        except AccountError as error:
            _show_error(form, error)
        else:
            return redirect(url_for("accounts.check_email"))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/sign_up.html", form=form), status


@bp.route("/sign-up/check-email")
@public
def check_email() -> View:
    """Tell the newcomer to follow the link we mailed."""
    return render_template("accounts/check_email.html")


@bp.route("/confirm/<token>")
@public
def confirm_email(token: str) -> View:
    """Follow the confirmation link from the sign-up e-mail."""
    try:
        services.confirm_email(token)
    except TokenExpired:
        flash("That link has expired. Sign in and ask for a new one.", "error")
    except TokenError:
        flash("That link is not valid. Sign in and ask for a new one.", "error")
    except AccountError as error:
        flash(error.message, "info")
    else:
        flash("Your e-mail address is confirmed.", "success")
    if current_user.is_authenticated:
        return redirect(url_for("accounts.totp_setup"))
    return redirect(url_for("accounts.sign_in"))


@bp.route("/account/confirm-email")
@password_only
def confirm_pending() -> View:
    """Ask a member who has not yet confirmed their address to follow the link."""
    if current_user.email_confirmed:
        return redirect(url_for("pages.index"))
    return render_template("accounts/confirm_pending.html", form=ActionForm())


@bp.route("/account/confirm-email/resend", methods=["POST"])
@password_only
@_limit("RATELIMIT_SIGN_UP")
def resend_confirmation() -> View:
    """Mail the confirmation link again."""
    if ActionForm().validate_on_submit() and not current_user.email_confirmed:
        if services.send_confirmation(current_user):
            flash("We sent a new link. It works for 48 hours.", "success")
        else:
            flash("We could not send the e-mail just now. Try again in a few minutes.", "error")
    return redirect(url_for("accounts.confirm_pending"))


# --- Sign-in and the second factor -------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@_limit("RATELIMIT_SIGN_IN")
def sign_in() -> View:
    """Sign in with address and password; the second factor comes next."""
    form = SignInForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "")
        except AccountError as error:
            _show_error(form, error)
        else:
            sessions.start(user, second_factor=False)
            if not user.email_confirmed:
                return redirect(url_for("accounts.confirm_pending"))
            if not user.totp_enrolled:
                return redirect(url_for("accounts.totp_setup"))
            return redirect(url_for("accounts.totp_verify", next=request.args.get("next")))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/sign_in.html", form=form), status


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@password_only
@_limit("RATELIMIT_TOTP")
def totp_setup() -> View:
    """Enrol an authenticator app: QR code, secret as text, and a code to confirm."""
    if not current_user.email_confirmed:
        return redirect(url_for("accounts.confirm_pending"))
    if current_user.totp_enrolled:
        return redirect(url_for("pages.index"))
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = services.confirm_totp_enrolment(current_user, form.code.data or "")
        except AccountError as error:
            _show_error(form, error)
        else:
            sessions.complete_second_factor()
            return render_template("accounts/recovery_codes.html", codes=codes, first_time=True)
    secret = services.pending_totp_secret(current_user)
    uri = totp.provisioning_uri(secret, current_user.email)
    status = INVALID if form.is_submitted() else 200
    return render_template(
        "accounts/totp_setup.html",
        form=form,
        qr=totp.qr_svg(uri),
        secret=totp.group_secret(secret),
        uri=uri,
    ), status


@bp.route("/two-factor", methods=["GET", "POST"])
@password_only
@_limit("RATELIMIT_TOTP")
def totp_verify() -> View:
    """The second step of every sign-in: a code from the app or a recovery code."""
    if session.get("mfa"):
        return redirect(_after_sign_in())
    if not current_user.totp_enrolled:
        return redirect(url_for("accounts.totp_setup"))
    form = CodeForm()
    if form.validate_on_submit():
        check = services.check_second_factor(current_user, form.code.data or "")
        if check.ok:
            sessions.complete_second_factor()
            if check.outcome is CodeOutcome.RECOVERY_USED:
                flash(
                    f"You used a recovery code; {check.recovery_codes_left} left. "
                    "Make new ones in your account settings if you are running low.",
                    "info",
                )
            return redirect(_after_sign_in())
        _code_failure(form, check)
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/totp_verify.html", form=form), status


@bp.route("/sign-out", methods=["POST"])
@password_only
def sign_out() -> View:
    """Sign out of this browser."""
    if ActionForm().validate_on_submit():
        sessions.end()
        flash("You are signed out.", "success")
    return redirect(url_for("pages.index"))


# --- Forgotten password ------------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
@_limit("RATELIMIT_PASSWORD_RESET")
def forgot_password() -> View:
    """Ask for a reset link; the answer is the same whether or not the address is known."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data or "")
        flash(
            "If that address belongs to an account, a reset link is on its way. "
            "It works once, for one hour.",
            "info",
        )
        return redirect(url_for("accounts.sign_in"))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/password/reset/<token>")
@public
def reset_password_link(token: str) -> View:
    """Check the link, then move its token out of the address bar (and Referer headers)."""
    try:
        services.user_for_reset(token)
    except TokenExpired:
        flash("That reset link has expired. Ask for a new one.", "error")
        return redirect(url_for("accounts.forgot_password"))
    except TokenError:
        flash("That reset link is not valid or was already used. Ask for a new one.", "error")
        return redirect(url_for("accounts.forgot_password"))
    session["reset_token"] = token
    return redirect(url_for("accounts.reset_password"))


@bp.route("/password/reset", methods=["GET", "POST"])
@public
@_limit("RATELIMIT_PASSWORD_RESET")
def reset_password() -> View:
    """Choose a new password after following a reset link."""
    token = session.get("reset_token")
    if not isinstance(token, str):
        flash("Open the link from the reset e-mail first.", "error")
        return redirect(url_for("accounts.forgot_password"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data or "")
        except TokenError:
            session.pop("reset_token", None)
            flash("That reset link is not valid any more. Ask for a new one.", "error")
            return redirect(url_for("accounts.forgot_password"))
        except AccountError as error:
            _show_error(form, error)
        else:
            sessions.end()
            flash("Your password is changed. Sign in with it now.", "success")
            return redirect(url_for("accounts.sign_in"))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/reset_password.html", form=form), status


# --- The member's security settings ------------------------------------------------------------


@bp.route("/account")
@signed_in
def settings() -> View:
    """Security settings: password, address, second factor, sessions."""
    return render_template(
        "accounts/settings.html",
        form=ActionForm(),
        recovery_left=services.recovery_codes_left(current_user),
    )


@bp.route("/account/reauthenticate", methods=["GET", "POST"])
@signed_in
@_limit("RATELIMIT_TOTP")
def reauthenticate() -> View:
    """Re-enter password and code before changing sensitive settings."""
    form = ReauthForm()
    if form.validate_on_submit():
        try:
            check = services.reauthenticate(
                current_user, form.password.data or "", form.code.data or ""
            )
        except AccountError as error:
            _show_error(form, error)
        else:
            if check.ok:
                sessions.mark_reauthenticated()
                return redirect(
                    safe_next_url(request.args.get("next"), url_for("accounts.settings"))
                )
            _code_failure(form, check)
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/reauthenticate.html", form=form), status


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
@fresh_required
def change_password() -> View:
    """Choose a new password; other sessions end."""
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.password.data or "")
        except AccountError as error:
            _show_error(form, error)
        else:
            sessions.reissue(current_user)
            flash("Your password is changed; your other sessions were signed out.", "success")
            return redirect(url_for("accounts.settings"))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/change_password.html", form=form), status


@bp.route("/account/email", methods=["GET", "POST"])
@signed_in
@fresh_required
def change_email() -> View:
    """Change address: it counts once the link sent to the new address is followed."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            services.request_email_change(current_user, form.email.data or "")
        except AccountError as error:
            _show_error(form, error)
        else:
            flash("Follow the link we sent to the new address to finish the change.", "info")
            return redirect(url_for("accounts.settings"))
    status = INVALID if form.is_submitted() else 200
    return render_template("accounts/change_email.html", form=form), status


@bp.route("/account/email/confirm/<token>")
@public
def confirm_email_change(token: str) -> View:
    """Follow the link sent to a new address."""
    try:
        services.confirm_email_change(token)
    except TokenExpired:
        flash("That link has expired. Request the change again.", "error")
    except TokenError:
        flash("That link is not valid or was already used.", "error")
    except AccountError as error:
        flash(error.message, "error")
    else:
        flash("Your new e-mail address is confirmed.", "success")
    if current_user.is_authenticated:
        return redirect(url_for("accounts.settings"))
    return redirect(url_for("accounts.sign_in"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@signed_in
def sign_out_everywhere() -> View:
    """End every session of the member, on every device."""
    if ActionForm().validate_on_submit():
        services.sign_out_everywhere(current_user)
        sessions.end()
        flash("You are signed out on every device.", "success")
        return redirect(url_for("accounts.sign_in"))
    return redirect(url_for("accounts.settings"))


@bp.route("/account/recovery-codes", methods=["GET", "POST"])
@signed_in
@fresh_required
def recovery_codes() -> View:
    """Make ten new recovery codes; the old ones stop working."""
    form = ActionForm()
    if form.validate_on_submit():
        codes = services.regenerate_recovery_codes(current_user)
        return render_template("accounts/recovery_codes.html", codes=codes, first_time=False)
    return render_template(
        "accounts/recovery_codes_confirm.html",
        form=form,
        recovery_left=services.recovery_codes_left(current_user),
    )


@bp.route("/account/two-factor/reset", methods=["GET", "POST"])
@signed_in
@fresh_required
def totp_reset() -> View:
    """Remove the authenticator (a new phone, say) and enrol again; other sessions end."""
    form = ActionForm()
    if form.validate_on_submit():
        services.reset_totp(current_user, actor=current_user)
        sessions.reissue(current_user)
        session["mfa"] = False
        flash("Your authenticator was removed. Set up the new one now.", "info")
        return redirect(url_for("accounts.totp_setup"))
    return render_template("accounts/totp_reset.html", form=form)
