"""Moderator forms (and the members' flag form); every one carries a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from forum.moderation import services
from forum.moderation.models import FlagReason, WatchAction


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class ReasonForm(FlaskForm):
    """A decision with a reason the author (or the log) will read."""

    reason = StringField(
        "Reason",
        validators=[DataRequired("Give a reason."), Length(max=services.REASON_MAX)],
        description="The author is told this reason; never quote the post.",
    )


class LockForm(FlaskForm):
    """Lock a thread, optionally saying why."""

    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=500)])


class AllowForm(FlaskForm):
    """A finding a moderator calls a false positive, by field and position."""

    field = HiddenField(validators=[DataRequired(), Length(max=40)])
    start = IntegerField(validators=[NumberRange(min=0, max=100_000)])
    end = IntegerField(validators=[NumberRange(min=1, max=100_000)])


class FlagForm(FlaskForm):
    """A member's flag on a post."""

    reason = SelectField(
        "Reason",
        choices=[SelectChoice(str(choice), str(choice).capitalize()) for choice in FlagReason],
        validators=[DataRequired("Choose a reason.")],
    )
    note = TextAreaField(
        "Note (optional)",
        validators=[Optional(), Length(max=services.NOTE_MAX)],
        description="What is wrong, without quoting anything that identifies a patient.",
    )


class WatchedWordForm(FlaskForm):
    """A word or pattern to watch for, and what to do when it matches."""

    pattern = StringField(
        "Word, phrase or pattern",
        validators=[DataRequired("Type a word or pattern."), Length(max=100)],
        description="Plain words match whole words; * stands for any letters (tox*).",
    )
    is_regex = BooleanField("This is a regular expression")
    action = SelectField(
        "Action",
        choices=[SelectChoice(str(choice), str(choice).capitalize()) for choice in WatchAction],
        validators=[DataRequired()],
    )


class TryPatternForm(FlaskForm):
    """The test box: a pattern and a sample text; nothing is stored."""

    pattern = StringField("Pattern", validators=[DataRequired(), Length(max=100)])
    is_regex = BooleanField("This is a regular expression")
    sample = TextAreaField(
        "Sample text", validators=[DataRequired(), Length(max=services.SAMPLE_MAX)]
    )


class MoveForm(FlaskForm):
    """Move a thread to another community."""

    community = SelectField("Move to", coerce=int, validators=[DataRequired()])


class SuspendForm(FlaskForm):
    """Stop a member posting for some days."""

    days = IntegerField(
        "Days",
        validators=[DataRequired(), NumberRange(min=1, max=services.SUSPENSION_DAYS_MAX)],
        default=7,
    )
    reason = StringField(
        "Reason",
        validators=[DataRequired("Give a reason."), Length(max=services.REASON_MAX)],
        description="The member sees this reason when they try to post.",
    )
