"""ISO weeks and send moments in members' time zones (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forum.digest.models import is_time_zone
from forum.digest.schedule import Schedule, WeekError, default_time_zone, week_monday, week_of


def test_the_default_is_monday_seven_in_the_morning() -> None:
    assert Schedule().send_at("2026-W49") == datetime(2026, 11, 30, 7, tzinfo=UTC)


def test_a_send_moment_follows_the_members_clock_across_daylight_saving() -> None:
    new_york = Schedule(weekday=0, hour=7, time_zone="America/New_York")

    assert new_york.send_at("2026-W10") == datetime(2026, 3, 2, 12, tzinfo=UTC)  # EST
    assert new_york.send_at("2026-W12") == datetime(2026, 3, 16, 11, tzinfo=UTC)  # EDT


def test_an_hour_that_does_not_exist_locally_still_has_a_moment() -> None:
    spring_forward = Schedule(weekday=6, hour=2, time_zone="America/New_York")

    moment = spring_forward.send_at("2026-W10")  # Sunday 8 March 2026, 02:00 is skipped

    assert datetime(2026, 3, 8, 6, tzinfo=UTC) <= moment <= datetime(2026, 3, 8, 7, tzinfo=UTC)


def test_the_week_is_the_members_own_near_midnight() -> None:
    sunday_night_utc = datetime(2026, 11, 29, 20, tzinfo=UTC)

    assert Schedule(time_zone="UTC").current_week(sunday_night_utc) == "2026-W48"
    assert Schedule(time_zone="Asia/Tokyo").current_week(sunday_night_utc) == "2026-W49"


def test_last_weeks_late_sunday_digest_is_still_due_after_midnight() -> None:
    sunday_late = Schedule(weekday=6, hour=23, time_zone="UTC")
    just_after_midnight = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)

    assert sunday_late.due_week(just_after_midnight, timedelta(days=1)) == (
        "2026-W48",
        datetime(2026, 11, 29, 23, tzinfo=UTC),
    )
    assert sunday_late.due_week(just_after_midnight, timedelta(minutes=30)) is None


@pytest.mark.parametrize(
    ("state", "zone"),
    [("CA", "America/Los_Angeles"), ("tx", "America/Chicago"), (None, "UTC"), ("ZZ", "UTC")],
)
def test_a_members_practice_state_gives_their_default_time_zone(
    state: str | None, zone: str
) -> None:
    assert default_time_zone(state) == zone


def test_weeks_are_written_the_iso_way() -> None:
    assert week_of(datetime(2027, 1, 1, tzinfo=UTC).date()) == "2026-W53"
    assert week_monday("2026-W53").isoformat() == "2026-12-28"


@pytest.mark.parametrize("bad", ["2026-49", "2026-W54", "2025-W53", "W49", "2026-W4"])
def test_a_malformed_week_is_refused(bad: str) -> None:
    with pytest.raises(WeekError):
        week_monday(bad)


@pytest.mark.parametrize(
    ("name", "known"),
    [("Europe/Paris", True), ("Mars/Olympus", False), ("", False), ("../etc/passwd", False)],
)
def test_time_zones_are_checked_against_the_iana_database(name: str, known: bool) -> None:
    assert is_time_zone(name) is known
