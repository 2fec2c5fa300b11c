"""Notification forms: marking read (CSRF only) and one channel select per kind."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields import SelectChoice

from forum.notifications.models import KIND_RULES, Channel, Kind

CHANNEL_LABELS = {
    Channel.APP: "In my notifications",
    Channel.EMAIL: "In my notifications and by e-mail",
    Channel.OFF: "Off",
}


class MarkReadForm(FlaskForm):
    """Mark one notification, or all of them, read."""


class PreferencesForm(FlaskForm):
    """One select per kind; the fields are added below, named after the kinds."""

    def choices(self) -> dict[Kind, Channel]:
        """The chosen channel for each kind (call after validate)."""
        return {kind: Channel(self[str(kind)].data) for kind in Kind}

    def fill(self, current: Mapping[Kind, Channel]) -> None:
        """Show the member's current channels."""
        for kind, channel in current.items():
            self[str(kind)].data = str(channel)


for _kind, _rule in KIND_RULES.items():
    setattr(
        PreferencesForm,
        str(_kind),
        SelectField(
            _rule.label,
            choices=[
                SelectChoice(str(channel), CHANNEL_LABELS[channel]) for channel in _rule.channels
            ],
        ),
    )
