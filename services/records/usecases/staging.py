"""Employee writes of a batch, staged and written together (records.apply_region_changes): the
batch's employees are read in one query, each change runs through the ordinary use cases
(usecases/employees.py) against those cached employees, and its events, projection rows and
`region_changes` rows are written at the end — rows in one statement each, events through
`append_streams` (one round trip per round: every employee's first append, then every second...).

A change is staged only once every check of its use case has passed (the use cases save last),
so a refused change leaves nothing staged and its employee as it was: the in-memory equivalent
of a savepoint rolled back. The version checks `append` makes are made at staging against the
cached employee; the flush's `append_streams` checks them again against the log and raises
BatchConflict, writing nothing, when someone else wrote one of these employees meanwhile, and
checks the events' payloads (EventPayloadInvalid): the caller then applies the batch change by
change, where such a refusal is its change's alone."""

from __future__ import annotations

from collections import OrderedDict

from psycopg2.extras import execute_values

from services.records import domain, projection
from shared.errors import ConcurrencyError
from shared.eventstore import NewEvent, StreamAppend


class EmployeeCache:
    """Employees this records process rebuilt for earlier batches, each with the id of the
    last event it was rebuilt from (at most `size`, the least recently used go first): a batch
    takes an employee out (no two batches share one) and uses it only if that event is still
    the last of the employee's stream in the log — an event id is written once, so any other
    writer, or a batch that rolled back, shows as another id and the employee is read again.
    A batch gives its employees back when it ends."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._entries: OrderedDict[str, tuple[str, domain.Employee]] = OrderedDict()

    def take(self, nips) -> dict[str, tuple[str, domain.Employee]]:
        return {nip: self._entries.pop(nip) for nip in nips if nip in self._entries}

    def give(self, entries: dict[str, tuple[str, domain.Employee]]) -> None:
        for nip, entry in entries.items():
            self._entries[nip] = entry
            self._entries.move_to_end(nip)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class StagedWrites:
    """What a batch has staged: employees (cached, as the log plus the batch's changes leave
    them), their appends in order, the region_changes rows."""

    def __init__(self, uow, nips, event_ids, cache: EmployeeCache | None = None):
        nips = sorted(set(nips))
        current = _still_current(uow, cache.take(nips) if cache is not None else {})
        self._last: dict[str, str] = {nip: last for nip, (last, _) in current.items()}
        self._employees: dict[str, domain.Employee | None] = {
            nip: employee for nip, (_, employee) in current.items()}
        missing = [domain.stream_for(n) for n in nips if n not in self._employees]
        for stream_id, events in uow.store.read_streams(uow.dbapi, missing).items():
            nip = stream_id.split(":", 1)[1]
            self._employees[nip] = domain.replay_employee(events) if events else None
            if events:
                self._last[nip] = events[-1].event_id
        self._instansi = {row[0]: row[1] for row in uow.execute(
            "SELECT nip, instansi FROM employees WHERE nip = ANY(:n)", {"n": nips})}
        self._changes = {row[0]: (row[1], row[2], row[3]) for row in uow.execute(
            "SELECT event_id::text, nip, fingerprint, version FROM region_changes "
            "WHERE event_id = ANY(CAST(:ids AS uuid[]))", {"ids": sorted(set(event_ids))})}
        self._appends: list[StreamAppend] = []
        self._rows: list[dict] = []

    # -- what the use cases read -------------------------------------------------------------

    def employee(self, nip: str) -> domain.Employee | None:
        if nip not in self._employees:  # a NIP the batch did not name up front
            raise KeyError(nip)
        return self._employees[nip]

    def version(self, nip: str) -> int:
        employee = self._employees.get(nip)
        return employee.version if employee is not None else 0

    def instansi(self, nip: str) -> str | None:
        return self._instansi.get(nip)

    def applied_change(self, event_id: str) -> tuple[str, str, int] | None:
        """(nip, fingerprint, version) of an event id applied before or earlier in the batch."""
        return self._changes.get(event_id)

    # -- what the use cases write ------------------------------------------------------------

    def save(self, uow, stream_id: str, employee: domain.Employee, expected: int,
             events: list[NewEvent], reason: str | None) -> None:
        """Stage one use case's events, their version checked as `append` checks it, and apply
        them to the cached employee (their payloads are checked once, at the flush)."""
        current = employee.version
        if expected != current:
            raise ConcurrencyError(stream_id=stream_id, expected_version=expected,
                                   current_version=current)
        meta = dict(uow.metadata)
        if reason is not None:
            meta["reason"] = reason
        self._appends.append(StreamAppend(stream_id, "Employee", expected, events, meta))
        uow.appended.extend((stream_id, event.event_type) for event in events)
        for event in events:
            employee.apply(event.event_type, event.payload)
        self._employees[employee.nip] = employee
        self._last[employee.nip] = events[-1].event_id
        self._instansi[employee.nip] = domain.instansi_of(employee.data)

    def remember(self, row: dict) -> None:
        """A region_changes row, written at the flush."""
        self._rows.append(row)
        self._changes[row["id"]] = (row["nip"], row["digest"], row["version"])

    # -- the flush ---------------------------------------------------------------------------

    def flush(self, uow) -> None:
        """Everything staged, written: the projection rows of every employee and the
        region_changes rows first, then the appends (last, so the log's head row is locked
        for as short a time as the transaction allows), in rounds: an employee's first
        append in the first round, its second in the next... so that its versions follow each
        other. BatchConflict or EventPayloadInvalid: the caller rolls back to before the
        batch."""
        touched = sorted({a.stream_id.split(":", 1)[1] for a in self._appends})
        schema = uow.store.schema
        with uow.dbapi.cursor() as cur:
            if touched:
                execute_values(cur, projection.UPSERT_MANY.format(schema=schema),
                               [projection.row_for(self._employees[nip]) for nip in touched],
                               template=projection.UPSERT_TEMPLATE, page_size=1000)
            if self._rows:
                execute_values(
                    cur, f"INSERT INTO {schema}.region_changes (event_id, region, sequence, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    "reconciliation_id, difference_id, kind, nip, fingerprint, version) VALUES %s",
                    self._rows,
                    template="(CAST(%(id)s AS uuid), %(region)s, %(sequence)s, "
                             "CAST(%(rec)s AS uuid), %(diff)s, %(kind)s, %(nip)s, %(digest)s, "
                             "%(version)s)", page_size=1000)
        rounds: list[list[StreamAppend]] = []
        appended: dict[str, int] = {}
        for item in self._appends:
            index = appended.get(item.stream_id, 0)
            appended[item.stream_id] = index + 1
            if index == len(rounds):
                rounds.append([])
            rounds[index].append(item)
        for batch in rounds:
            uow.store.append_streams(uow.dbapi, batch)
        self._appends, self._rows = [], []

    def give_back(self, cache: EmployeeCache | None) -> None:
        """The batch's employees, as its writes leave them, for the next batch (checked
        against the log then)."""
        if cache is not None:
            cache.give({nip: (self._last[nip], employee)
                        for nip, employee in self._employees.items() if employee is not None})


def _still_current(uow, taken: dict) -> dict:
    """The cached employees whose last event is still their stream's last in the log."""
    if not taken:
        return {}
    streams = {domain.stream_for(nip): nip for nip in taken}
    latest = dict(uow.execute(
        "SELECT s, (SELECT event_id::text FROM events WHERE stream_id = s "
        "ORDER BY version DESC LIMIT 1) FROM unnest(CAST(:s AS text[])) AS s",
        {"s": list(streams)}).all())
    return {nip: taken[nip] for stream_id, nip in streams.items()
            if latest.get(stream_id) == taken[nip][0]}
