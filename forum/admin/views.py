"""Administration pages: members, their roles and suspensions, and the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from forum.access import role_required
from forum.accounts import services as accounts
from forum.accounts.forms import ActionForm
from forum.accounts.models import Role, User
from forum.admin import services
from forum.admin.forms import AuditFilterForm, MemberSearchForm, RolesForm, SuspendForm
from forum.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _member(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _before_id() -> int | None:
    return request.args.get("before", type=int)


@bp.route("/")
@role_required(Role.ADMIN)
def members() -> str:
    """Find members."""
    form = MemberSearchForm(request.args)
    form.validate()
    found = services.find_members(form.q.data or "", _before_id())
    more = len(found) > services.PAGE_SIZE
    return render_template(
        "admin/members.html", form=form, members=found[: services.PAGE_SIZE], more=more
    )


@bp.route("/members/<int:user_id>")
@role_required(Role.ADMIN)
def member(user_id: int) -> str:
    """One member's account state, with the actions an admin can take."""
    user = _member(user_id)
    roles = RolesForm(verifier=user.is_verifier, moderator=user.is_moderator, admin=user.is_admin)
    return render_template(
        "admin/member.html",
        member=user,
        roles_form=roles,
        suspend_form=SuspendForm(),
        action_form=ActionForm(),
    )


@bp.route("/members/<int:user_id>/roles", methods=["POST"])
@role_required(Role.ADMIN)
def set_roles(user_id: int) -> Response:
    """Grant or revoke staff roles."""
    user, form = _member(user_id), RolesForm()
    if form.validate_on_submit():
        wanted = {role for role in Role if getattr(form, role.value).data}
        try:
            accounts.set_roles(current_user, user, wanted)
        except accounts.AccountError as error:
            flash(error.message, "error")
        else:
            flash("Roles saved.", "success")
    return redirect(url_for("admin.member", user_id=user.id))


@bp.route("/members/<int:user_id>/suspend", methods=["POST"])
@role_required(Role.ADMIN)
def suspend(user_id: int) -> str | Response:
    """Suspend a member, with a reason."""
    user, form = _member(user_id), SuspendForm()
    if form.validate_on_submit():
        try:
            accounts.suspend(current_user, user, form.reason.data or "")
        except accounts.AccountError as error:
            flash(error.message, "error")
        else:
            flash("Member suspended; their sessions were ended.", "success")
        return redirect(url_for("admin.member", user_id=user.id))
    if user.suspended:  # an old page: the member's page has no suspension form to correct
        flash("This member is already suspended.", "error")
        return redirect(url_for("admin.member", user_id=user.id))
    roles = RolesForm(verifier=user.is_verifier, moderator=user.is_moderator, admin=user.is_admin)
    return render_template(
        "admin/member.html",
        member=user,
        roles_form=roles,
        suspend_form=form,
        action_form=ActionForm(),
    ), 422  # type: ignore[return-value]


@bp.route("/members/<int:user_id>/unsuspend", methods=["POST"])
@role_required(Role.ADMIN)
def unsuspend(user_id: int) -> Response:
    """Lift a suspension."""
    user = _member(user_id)
    if ActionForm().validate_on_submit():
        accounts.unsuspend(current_user, user)
        flash("Suspension lifted.", "success")
    return redirect(url_for("admin.member", user_id=user.id))


@bp.route("/members/<int:user_id>/reset-two-factor", methods=["POST"])
@role_required(Role.ADMIN)
def reset_two_factor(user_id: int) -> Response:
    """Remove a member's authenticator when they lost it and their recovery codes."""
    user = _member(user_id)
    if ActionForm().validate_on_submit():
        accounts.reset_totp(user, actor=current_user)
        flash(
            "Two-factor authentication removed; the member enrols again at next sign-in.", "success"
        )
    return redirect(url_for("admin.member", user_id=user.id))


@bp.route("/audit")
@role_required(Role.ADMIN)
def audit_log() -> str:
    """The audit log, newest first, with filters."""
    form = AuditFilterForm(request.args)
    form.action.choices = [("", "Any action")] + [(a, a) for a in services.audit_actions()]
    chosen = services.AuditFilter()
    if form.validate():
        chosen = services.AuditFilter(
            action=form.action.data or "",
            actor=form.actor.data or "",
            target=form.target.data or "",
            ip=form.ip.data or "",
            since=form.since.data,
            until=form.until.data,
        )
    events = services.audit_events(chosen, _before_id())
    more = len(events) > services.PAGE_SIZE
    return render_template(
        "admin/audit.html", form=form, events=events[: services.PAGE_SIZE], more=more
    )
