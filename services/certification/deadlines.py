"""Deadline arithmetic by calendar date, pure (rules U3, C3).

Instants are stored in UTC. A deadline is a calendar date: the agency's own date, read in
the UTC offset it wrote in the record's ``at`` (RFC 3339 carries it; an agency writing UTC
gets the UTC date). A deadline date ends at midnight in that same offset: ``lapses_at``.

U visa Supplement B (U3, 8 CFR 214.14(c)(2)(i)): expires on the signature date plus six
months minus one day. Six months from a day the target month lacks is that month's last day
(Aug 31 -> Feb 28, or Feb 29 in a leap year), then one day back: Aug 31 -> Feb 27 (Feb 28 in
a leap year); Feb 29 -> Aug 28; Mar 31 -> Sep 29. Clamping never gives a later date than the
literal reading, so a reminder can only come early, never late.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone

U_VISA_VALIDITY_MONTHS = 6


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the last day of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def u_visa_expires_on(signed_on: date) -> date:
    """The last day a Supplement B signed on ``signed_on`` can be filed (U3)."""
    return add_months(signed_on, U_VISA_VALIDITY_MONTHS) - timedelta(days=1)


def offset_minutes(at: datetime) -> int:
    """The agency's UTC offset as written in ``at``, in whole minutes."""
    offset = at.utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def agency_date(at: datetime, offset: int) -> date:
    """The calendar date of the instant ``at`` in the agency's offset."""
    return at.astimezone(timezone(timedelta(minutes=offset))).date()


def day_starts(day: date, offset: int) -> datetime:
    """The UTC instant at which ``day`` begins in the agency's offset."""
    local = datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(minutes=offset)))
    return local.astimezone(UTC)


def lapses_at(deadline: date, offset: int) -> datetime:
    """The instant after the last valid day: midnight ending ``deadline`` in the agency's offset."""
    return day_starts(deadline + timedelta(days=1), offset)


def days_left(deadline: date, now: datetime, offset: int) -> int:
    """Whole calendar days from today (agency's date) to the deadline, never negative."""
    return max(0, (deadline - agency_date(now, offset)).days)
