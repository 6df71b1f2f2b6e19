"""Domain rules of the verification service: plain Python, no Nameko, SQLAlchemy or marshmallow.

Queues hold what waits for a verifier (a fasilitator of the employee's OPD) or for an
administrator's decision. Clocks run in working days (Monday to Friday, minus the holidays BKD
lists in config)."""

from __future__ import annotations

from datetime import date, timedelta

#: request events -> the stage the request is in afterwards (None: it left the queues)
REQUEST_STAGES = {
    "RequestSubmitted": "submitted",
    "VerificationStarted": "under_verification",
    "RequestReturned": None,
    "RequestVerified": "under_approval",
    "RequestApproved": None,
    "RequestRejected": None,
    "RequestWithdrawn": None,
}
#: stages fasilitators work on; administrators also see these, and alone decide the rest
VERIFIER_STAGES = ("submitted", "under_verification", "pending_change")
ADMIN_STAGES = ("under_approval",)


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


def sla_state(since: date, sla_days: int | None, today: date,
              holidays: frozenset[date] = frozenset()) -> dict:
    """Where an item stands against its SLA: due date, days used, breached or not."""
    used = working_days_between(since, today, holidays)
    if not sla_days:
        return {"working_days": used, "due": None, "breached": False}
    due = add_working_days(since, sla_days, holidays)
    return {"working_days": used, "due": due.isoformat(), "breached": today > due}
