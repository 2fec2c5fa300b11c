"""Forms for cases, discussions, replies and moderator actions; every one carries a CSRF token.

The limits here match the services' (which check again), so errors appear beside their fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp, ValidationError

from forum import phi
from forum.cases import services
from forum.cases.models import AgeBand, Setting, Sex


def _newlines(value: Any) -> Any:
    """Browsers send CRLF; count and store plain newlines."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def _choices(enum: Any, blank: str) -> list[SelectChoice]:
    return [SelectChoice("", blank)] + [
        SelectChoice(str(member), str(member).capitalize()) for member in enum
    ]


def _check_tags(_form: FlaskForm, field: Field) -> None:
    try:
        services.parse_tags(field.data or "")
    except ValueError as problem:
        raise ValidationError(str(problem)) from None


def _title() -> StringField:
    return StringField(
        "Title",
        validators=[DataRequired("Give the thread a title."), Length(max=services.TITLE_MAX)],
        description="A short summary of the question, with nothing that identifies the patient.",
    )


def _tags() -> StringField:
    return StringField(
        "Tags (optional)",
        validators=[Optional(), Length(max=services.TAGS_FIELD_MAX), _check_tags],
        description="Up to 5, separated by commas: lower-case letters, digits and hyphens, "
        "30 characters each (chest-pain, ecg).",
        render_kw={"spellcheck": "false", "autocapitalize": "none"},
    )


def _section(label: str, hint: str, *, required: bool) -> TextAreaField:
    validators: list[Any] = [Length(max=services.SECTION_MAX)]
    validators.insert(0, DataRequired("This cannot be empty.") if required else Optional())
    return TextAreaField(
        label,
        validators=validators,
        description=hint,
        filters=[_newlines],
        render_kw={"rows": 5},
    )


def _anonymous(what: str) -> BooleanField:
    return BooleanField(
        f"Post this {what} anonymously",
        description="Colleagues see an alias such as “Anonymous cardiologist 1”; moderators can "
        "find out who you are if they must.",
    )


class CaseFields(FlaskForm):
    """A structured, de-identified case (the new-case and edit-case forms)."""

    title = _title()
    age_band = SelectField(
        "Age band",
        choices=_choices(AgeBand, "Choose an age band"),
        validators=[DataRequired("Choose an age band.")],
        description="An age band, never an exact age.",
    )
    sex = SelectField(
        "Sex",
        choices=_choices(Sex, "Choose"),
        validators=[DataRequired("Choose one.")],
        description="As relevant clinically; choose “not stated” when it is not.",
    )
    setting = SelectField(
        "Setting",
        choices=_choices(Setting, "Choose a setting"),
        validators=[DataRequired("Choose a setting.")],
        description="A kind of setting, never a facility name.",
    )
    presenting = _section(
        "Presenting problem",
        "What brought the patient to you, with no names, places or dates.",
        required=True,
    )
    history = _section(
        "History",
        "Use relative days such as 'day 3', never calendar dates.",
        required=False,
    )
    examination = _section(
        "Examination and investigations",
        "Findings and results with relative days such as 'day 3', never calendar dates.",
        required=False,
    )
    management = _section(
        "Current management",
        "What has been done so far, and how the patient responded.",
        required=False,
    )
    question = _section(
        "The question for colleagues",
        "What you would like colleagues' views on.",
        required=True,
    )
    tags = _tags()

    def draft(self, *, anonymous: bool = False) -> services.CaseDraft:
        """The submitted case as the service takes it."""
        return services.CaseDraft(
            title=self.title.data or "",
            age_band=self.age_band.data or "",
            sex=self.sex.data or "",
            setting=self.setting.data or "",
            sections={name: getattr(self, name).data or "" for name, _ in services.CASE_SECTIONS},
            tags=self.tags.data or "",
            anonymous=anonymous,
        )


class CaseForm(CaseFields):
    """A new case: the fields, and whether to post anonymously."""

    anonymous = _anonymous("case")


class DiscussionFields(FlaskForm):
    """A discussion: a title and a body."""

    title = _title()
    body = TextAreaField(
        "Your message",
        validators=[DataRequired("This cannot be empty."), Length(max=services.BODY_MAX)],
        description="Markdown works: **bold**, *italic*, lists, > quotes. "
        "Never identify a patient.",
        filters=[_newlines],
        render_kw={"rows": 10},
    )
    tags = _tags()

    def draft(self, *, anonymous: bool = False) -> services.DiscussionDraft:
        """The submitted discussion as the service takes it."""
        return services.DiscussionDraft(
            title=self.title.data or "",
            body=self.body.data or "",
            tags=self.tags.data or "",
            anonymous=anonymous,
        )


class DiscussionForm(DiscussionFields):
    """A new discussion: the fields, and whether to post anonymously."""

    anonymous = _anonymous("discussion")


class ReplyForm(FlaskForm):
    """A reply, possibly quoting another post."""

    body = TextAreaField(
        "Your reply",
        validators=[DataRequired("Write a reply first."), Length(max=services.BODY_MAX)],
        description="Markdown works. Mention a colleague with @ and their display name.",
        filters=[_newlines],
        render_kw={"rows": 8},
    )
    anonymous = _anonymous("reply")
    quoted_post_id = HiddenField(validators=[Optional(), Regexp(r"^\d{1,12}$")])

    def quoted_id(self) -> int | None:
        """The quoted post's id, if a valid one was sent."""
        value = self.quoted_post_id.data or ""
        return int(value) if value.isdigit() and len(value) <= 12 else None


class EditPostForm(FlaskForm):
    """A reply's new text."""

    body = TextAreaField(
        "Text",
        validators=[DataRequired("This cannot be empty."), Length(max=services.BODY_MAX)],
        description="The earlier text is kept in the post's history, which only you and the "
        "moderators can see.",
        filters=[_newlines],
        render_kw={"rows": 10},
    )


class OutcomeForm(FlaskForm):
    """How the patient did."""

    outcome = TextAreaField(
        "Outcome",
        validators=[DataRequired("Describe the outcome."), Length(max=services.OUTCOME_MAX)],
        description="What happened next, with relative days such as 'day 10', never dates.",
        filters=[_newlines],
        render_kw={"rows": 6},
    )


class RevealForm(FlaskForm):
    """A moderator's reason for seeing who wrote an anonymous post."""

    reason = StringField(
        "Reason",
        validators=[DataRequired("Give a reason."), Length(max=services.REASON_MAX)],
        description="Recorded in the audit log.",
    )


class ToggleForm(FlaskForm):
    """Turn a mark (helpful, bookmark, follow, accepted) on or off."""

    state = HiddenField(validators=[AnyOf(("on", "off"))])

    @property
    def on(self) -> bool:
        """The mark should be set."""
        return self.state.data == "on"


# --- Showing the gate's findings ---------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of the member's text, highlighted when a finding covers it."""

    text: str
    marked: bool


@dataclass(frozen=True)
class FieldFindings:
    """What the PHI gate found in one field: the text in segments, and each finding."""

    name: str
    label: str
    segments: list[Segment]
    findings: list[phi.Finding]


def segments(text: str, findings: Sequence[phi.Finding]) -> list[Segment]:
    """The text cut into plain and highlighted runs (overlapping findings merge)."""
    spans = sorted((max(0, f.start), min(len(text), f.end)) for f in findings if f.end > f.start)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[Segment] = []
    position = 0
    for start, end in merged:
        if start > position:
            out.append(Segment(text[position:start], False))
        out.append(Segment(text[start:end], True))
        position = end
    if position < len(text):
        out.append(Segment(text[position:], False))
    return out


def _label(form: FlaskForm | None, name: str) -> str:
    if name.startswith("poll_option_"):
        return f"Poll option {name.removeprefix('poll_option_')}"
    if name.startswith("image_label_"):
        return f"Name of image {name.removeprefix('image_label_')}"
    if name == "poll_question":
        return "Poll question"
    field = form[name] if form is not None and name in form else None
    return str(field.label.text) if field is not None else name.replace("_", " ").capitalize()


def findings_for(blocked: services.Blocked, form: FlaskForm | None) -> list[FieldFindings]:
    """The gate's findings per field, in the form's order, ready for _phi_findings.html."""
    order = [field.name for field in form] if form is not None else []
    names = sorted(blocked.result.findings, key=lambda n: (order.index(n) if n in order else 99, n))
    shown = []
    for name in names:
        found = sorted(blocked.result.findings[name], key=lambda f: f.start)
        source = blocked.texts.get(name, "")
        shown.append(FieldFindings(name, _label(form, name), segments(source, found), found))
    return shown


def mark_fields(form: FlaskForm, errors: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Put errors beside the form's own fields; returns the rest (poll, images) by name."""
    rest: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, *messages]
        else:
            rest.setdefault(name, []).extend(messages)
    return rest
