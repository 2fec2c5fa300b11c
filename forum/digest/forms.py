"""Digest forms; every one carries a CSRF token."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField
from wtforms.fields import SelectChoice

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@cache
def time_zone_choices() -> list[SelectChoice]:
    """Every IANA zone this machine knows, grouped by region ("America", "Europe", ...)."""
    return [
        SelectChoice(name, name.replace("_", " "), optgroup=name.split("/", 1)[0])
        for name in sorted(available_timezones())
    ]


class DigestSettingsForm(FlaskForm):
    """When the weekly digest arrives, or that it should not."""

    subscribed = BooleanField("Send me the weekly digest")
    weekday = SelectField(
        "Day", coerce=int, choices=[SelectChoice(str(i), day) for i, day in enumerate(WEEKDAYS)]
    )
    hour = SelectField(
        "Time", coerce=int, choices=[SelectChoice(str(h), f"{h:02d}:00") for h in range(24)]
    )
    time_zone = SelectField("Time zone", choices=time_zone_choices)


class UnsubscribeForm(FlaskForm):
    """The unsubscribe page's button: nothing but the CSRF token."""
