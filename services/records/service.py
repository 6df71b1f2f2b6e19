"""Nameko entrypoints of the records service."""

from datetime import datetime

from services.records import employees
from services.records.events import REGISTRY
from shared.auth import Principal
from shared.contracts import records as c
from shared.db import Database
from shared.errors import ValidationFailed
from shared.schemas import load
from shared.service import ServiceBase, rpc


class RecordsService(ServiceBase):
    """The event-sourced employee master record (one aggregate per NIP) and its documents."""

    name = "records"
    db = Database(REGISTRY)

    def _actor(self) -> Principal:
        return Principal.from_context(self.context)

    @rpc
    def register_employee(self, payload, reason):
        payload = {k: v for k, v in (payload or {}).items() if k != "reason"} \
            if isinstance(payload, dict) else payload
        data = load(REGISTRY.get("EmployeeRegistered").schema(), payload)
        data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
        with self.db.transaction() as uow:
            return employees.register(uow, self._actor(), data, str(reason))

    @rpc
    def get_employee(self, nip, as_of=None):
        when = None
        if as_of is not None:
            try:
                when = datetime.fromisoformat(str(as_of))
            except ValueError:
                raise ValidationFailed("as_of harus waktu ISO 8601", field="as_of") from None
        with self.db.transaction() as uow:
            return employees.get(uow, self._actor(), str(nip), when)

    @rpc
    def field_history(self, nip, field):
        with self.db.transaction() as uow:
            return employees.field_history(uow, self._actor(), str(nip), str(field))

    @rpc
    def record_history(self, nip, payload):
        data = load(c.HistoryRequest(), payload)
        with self.db.transaction() as uow:
            return employees.record_history(uow, self._actor(), str(nip), data)

    @rpc
    def propose_change(self, nip, payload):
        data = load(c.ProposalRequest(), payload)
        with self.db.transaction() as uow:
            return employees.propose(uow, self._actor(), str(nip), data)

    @rpc
    def decide_change(self, nip, payload):
        data = load(c.DecisionRequest(), payload)
        with self.db.transaction() as uow:
            return employees.decide(uow, self._actor(), str(nip), data)
