"""Working days: SLA clocks in SIMASN count Monday to Friday, minus the holidays BKD lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

#: West Indonesia Time (UTC+7, no daylight saving): the day as East Java counts it
WIB = timezone(timedelta(hours=7), "WIB")


def today_wib(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(WIB).date()


def working_days_between(start: date, end: date, holidays: frozenset[date] = frozenset()) -> int:
    """Whole working days after `start` up to and including `end`."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            days += 1
    return days


def add_working_days(start: date, count: int, holidays: frozenset[date] = frozenset()) -> date:
    day = start
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            count -= 1
    return day
