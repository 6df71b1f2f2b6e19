"""Domain rules of the verification service: plain Python, no Nameko, SQLAlchemy or marshmallow.

Queues hold what waits for a verifier (a fasilitator of the employee's OPD) or for an
administrator's decision. Clocks run in working days, Monday to Friday, counted in WIB; national
holidays are not configured yet (the functions take them), so a holiday still counts."""

from __future__ import annotations

from datetime import date

from shared.calendar import add_working_days, working_days_between

#: request events -> the stage the request is in afterwards (None: it left the queues)
REQUEST_STAGES = {
    "RequestSubmitted": "submitted",
    "VerificationStarted": "under_verification",
    "RequestReturned": None,
    "RequestVerified": "under_approval",
    "RequestApproved": None,
    "RequestRejected": None,
    "RequestWithdrawn": None,
    "RequestCompleted": None,
}
#: stages fasilitators work on; administrators also see these, and alone decide the rest
VERIFIER_STAGES = ("submitted", "under_verification", "pending_change")
ADMIN_STAGES = ("under_approval",)


def sla_state(since: date, sla_days: int | None, today: date,
              holidays: frozenset[date] = frozenset()) -> dict:
    """Where an item stands against its SLA: due date, days used, breached or not."""
    used = working_days_between(since, today, holidays)
    if not sla_days:
        return {"working_days": used, "due": None, "breached": False}
    due = add_working_days(since, sla_days, holidays)
    return {"working_days": used, "due": due.isoformat(), "breached": today > due}

