"""Deadline arithmetic at the edges (U3, C3): calendar dates, month ends, leap days, offsets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.certification import deadlines

CENTRAL = timezone(timedelta(hours=-6))


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 1, 15), 6, date(2026, 7, 15)),
    (date(2026, 8, 31), 6, date(2027, 2, 28)),  # clamped: 2027 is not a leap year
    (date(2027, 8, 31), 6, date(2028, 2, 29)),  # clamped to the leap day
    (date(2026, 12, 31), 2, date(2027, 2, 28)),  # across the year end
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 7, 31), 6, date(2027, 1, 31)),
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
])
def test_add_months_clamps_to_the_last_day(day: date, months: int, expected: date) -> None:
    assert deadlines.add_months(day, months) == expected


@pytest.mark.parametrize(("signed_on", "expires_on"), [
    (date(2026, 1, 1), date(2026, 6, 30)),  # the plain case: six months minus one day
    (date(2026, 8, 31), date(2027, 2, 27)),  # Aug 31 + 6 months = Feb 28 (clamped), - 1 day
    (date(2026, 8, 30), date(2027, 2, 27)),  # Aug 29-31 all clamp to Feb 28
    (date(2026, 8, 28), date(2027, 2, 27)),
    (date(2027, 8, 31), date(2028, 2, 28)),  # leap year: Feb 29 - 1 day
    (date(2028, 2, 29), date(2028, 8, 28)),  # signed on a leap day
    (date(2026, 3, 31), date(2026, 9, 29)),  # Sep has 30 days: Sep 30 - 1
    (date(2026, 1, 31), date(2026, 7, 30)),
    (date(2026, 12, 31), date(2027, 6, 29)),  # across the year end, June has 30 days
    (date(2026, 9, 1), date(2027, 2, 28)),
    (date(2027, 9, 1), date(2028, 2, 29)),  # Mar 1 - 1 day in a leap year
])
def test_u_visa_expires_six_months_minus_one_day_after_signature(signed_on: date, expires_on: date) -> None:
    assert deadlines.u_visa_expires_on(signed_on) == expires_on


def test_the_signature_date_is_the_agency_s_date_not_utc() -> None:
    # 22:00 in Central time on Aug 31 is already Sep 1 in UTC; the agency signed on Aug 31.
    at = datetime(2026, 8, 31, 22, 0, tzinfo=CENTRAL)
    offset = deadlines.offset_minutes(at)
    assert offset == -360
    assert at.astimezone(UTC).date() == date(2026, 9, 1)
    assert deadlines.agency_date(at, offset) == date(2026, 8, 31)
    assert deadlines.u_visa_expires_on(deadlines.agency_date(at, offset)) == date(2027, 2, 27)


def test_a_utc_timestamp_gives_the_utc_date() -> None:
    at = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)
    assert deadlines.agency_date(at, deadlines.offset_minutes(at)) == date(2026, 9, 1)


def test_a_deadline_lapses_at_midnight_ending_it_in_the_agency_s_offset() -> None:
    lapse = deadlines.lapses_at(date(2027, 2, 27), -360)
    assert lapse == datetime(2027, 2, 28, 6, 0, tzinfo=UTC)  # 00:00 Central on Feb 28
    assert lapse.tzinfo is UTC
    assert deadlines.lapses_at(date(2028, 2, 28), 0) == datetime(2028, 2, 29, tzinfo=UTC)
    assert deadlines.lapses_at(date(2027, 12, 31), 60) == datetime(2027, 12, 31, 23, 0, tzinfo=UTC)


def test_days_left_counts_calendar_days_in_the_agency_s_offset() -> None:
    deadline = date(2027, 2, 27)
    assert deadlines.days_left(deadline, deadlines.day_starts(date(2027, 1, 28), -360), -360) == 30
    # 23:59 Central on Feb 20 is Feb 21 in UTC, but the agency still has 7 days.
    late_evening = datetime(2027, 2, 21, 5, 59, tzinfo=UTC)
    assert deadlines.days_left(deadline, late_evening, -360) == 7
    assert deadlines.days_left(deadline, late_evening, 0) == 6
    assert deadlines.days_left(deadline, datetime(2027, 3, 5, tzinfo=UTC), 0) == 0  # never negative


def test_day_starts_is_utc() -> None:
    start = deadlines.day_starts(date(2026, 3, 8), -300)
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC) and start.utcoffset() == timedelta(0)
