"""Every auditor read is itself recorded (Pergub 73/2020)."""

from __future__ import annotations

from shared.eventstore import ANY_VERSION, NewEvent


def record_auditor_read(uow, auditor_id: str, method: str, path: str, query: str) -> None:
    """An `AuditorRead` event in the auditor's own stream of the gateway log."""
    uow.append(f"auditor:{auditor_id}", "AuditorAccess", ANY_VERSION,
               [NewEvent("AuditorRead", {"method": method, "path": path,
                                         "query": query[:2000]})])
