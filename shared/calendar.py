"""Working days: SLA clocks in SIMASN count Monday to Friday, minus the holidays BKD lists
(config HOLIDAYS: ISO dates separated by commas — national holidays and cuti bersama change
every year by decree, so they are configuration, not code)."""

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


def holidays_from(config: dict) -> frozenset[date]:
    """The configured holidays; a date that does not parse stops the service naming it."""
    from shared.errors import ConfigError

    raw = config.get("HOLIDAYS") or ""
    if isinstance(raw, list | tuple):
        items = [str(x) for x in raw]
    else:
        items = [part for part in str(raw).replace(";", ",").split(",")]
    days = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ConfigError(f"HOLIDAYS: {item!r} bukan tanggal (YYYY-MM-DD)",
                              field="HOLIDAYS") from None
    return frozenset(days)
