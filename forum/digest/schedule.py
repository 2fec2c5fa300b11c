"""When a member's digest is due: ISO weeks, local send times and default time zones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from forum.digest.models import DEFAULT_HOUR, DEFAULT_TIME_ZONE, DEFAULT_WEEKDAY

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")
PERIOD = timedelta(days=7)

# Members are US physicians (an NPI), so the practice state in the registry gives a far better
# default than UTC (07:00 UTC is 02:00 in New York). Each state's most populous zone.
_ZONE_STATES = {
    "America/New_York": "CT DC DE FL GA IN KY MA MD ME MI NC NH NJ NY OH PA RI SC VA VT WV",
    "America/Chicago": "AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI",
    "America/Denver": "CO ID MT NM UT WY",
    "America/Phoenix": "AZ",
    "America/Los_Angeles": "CA NV OR WA",
    "America/Anchorage": "AK",
    "Pacific/Honolulu": "HI",
    "America/Puerto_Rico": "PR",
    "America/St_Thomas": "VI",
    "Pacific/Guam": "GU",
}
STATE_TIME_ZONES = {
    state: zone for zone, states in _ZONE_STATES.items() for state in states.split()
}


class WeekError(ValueError):
    """Not an ISO week written as YYYY-Www."""


@dataclass(frozen=True)
class Schedule:
    """A member's chosen send time: weekday (0 is Monday), hour and IANA time zone."""

    weekday: int = DEFAULT_WEEKDAY
    hour: int = DEFAULT_HOUR
    time_zone: str = DEFAULT_TIME_ZONE

    def send_at(self, iso_week: str) -> datetime:
        """The UTC moment of this week's digest (local wall time; DST gaps roll forward)."""
        day = week_monday(iso_week) + timedelta(days=self.weekday)
        local = datetime.combine(day, time(self.hour), tzinfo=ZoneInfo(self.time_zone))
        return local.astimezone(UTC)

    def current_week(self, now: datetime) -> str:
        """The ISO week the member is living in at `now`."""
        return week_of(now.astimezone(ZoneInfo(self.time_zone)).date())

    def due_week(self, now: datetime, late_limit: timedelta) -> tuple[str, datetime] | None:
        """The week whose send moment has come and is less than `late_limit` ago, if any.

        Last week's too: a Sunday 23:00 digest may still be retried after local midnight.
        """
        this_week = self.current_week(now)
        last_week = week_of(week_monday(this_week) - PERIOD)
        for iso_week in (this_week, last_week):
            send_at = self.send_at(iso_week)
            if send_at <= now < send_at + late_limit:
                return iso_week, send_at
        return None


def default_time_zone(practice_state: str | None) -> str:
    """The time zone of a member who chose none: their practice state's, else UTC."""
    return STATE_TIME_ZONES.get((practice_state or "").upper(), DEFAULT_TIME_ZONE)


def week_of(day: date) -> str:
    """ "2026-W49" for a day in that ISO week."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(iso_week: str) -> date:
    """The Monday of an ISO week; raises WeekError for anything else."""
    found = WEEK_PATTERN.match(iso_week)
    if not found:
        raise WeekError(f"expected YYYY-Www, got {iso_week!r}")
    try:
        return date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError:
        raise WeekError(f"{iso_week} is not a week of that year") from None


def check_week(iso_week: str) -> str:
    """The week as given, once known to be valid."""
    week_monday(iso_week)
    return iso_week
