"""Fasilitator assignments (subscription `reporting.assignments`, from identity's log): which
OPDs each fasilitator looks after, for the completeness rollup per fasilitator. Only the roles,
the OPD scope and the display name of an account are kept, nothing else of it.

Identity folds an account's events in order (a granted role adds its OPDs to the scope), and
a live delivery may overtake a catch-up: so each account's steps are kept and folded again in
version order (monev.fold_assignment) whenever one arrives. Two deliveries of one account at
once wait for each other (projection.lock_rows): otherwise each folds the steps it can see
without the other's, and the last upsert keeps a fold missing a step."""

from __future__ import annotations

import orjson

from services.reporting import monev
from services.reporting.usecases.projection import lock_rows

#: how `simasn projections rebuild reporting.assignments` empties the read model
RESET = ("DELETE FROM assignment_steps", "DELETE FROM fasilitators")


def account_event(uow, event) -> None:
    stream_type, _, account_id = event.stream_id.partition(":")
    if stream_type != "account" or not account_id:
        return
    payload = {k: event.payload[k] for k in monev.ASSIGNMENT_KEYS if k in event.payload}
    lock_rows(uow, "fasilitators", [account_id])
    uow.execute("INSERT INTO assignment_steps (account_id, version, event_type, payload) "
                "VALUES (:a, :v, :t, CAST(:p AS jsonb)) ON CONFLICT DO NOTHING",
                {"a": account_id, "v": event.version, "t": event.event_type,
                 "p": orjson.dumps(payload).decode()})
    steps = [(r[0], r[1], r[2]) for r in uow.execute(
        "SELECT version, event_type, payload FROM assignment_steps WHERE account_id = :a",
        {"a": account_id})]
    state = monev.fold_assignment(steps)
    if not state["fasilitator"]:
        uow.execute("DELETE FROM fasilitators WHERE account_id = :a", {"a": account_id})
        return
    uow.execute("INSERT INTO fasilitators (account_id, display_name, opd_scope, active) VALUES "
                "(:a, :n, CAST(:s AS text[]), :active) ON CONFLICT (account_id) DO UPDATE SET "
                "display_name = EXCLUDED.display_name, opd_scope = EXCLUDED.opd_scope, "
                "active = EXCLUDED.active",
                {"a": account_id, "n": state["display_name"], "s": state["opd_scope"],
                 "active": state["active"]})
