"""Rules of monitoring and evaluation (monev, issue 15 part 3): plain Python, no Nameko,
SQLAlchemy or marshmallow.

- **Presence.** What of an employee's record is filled: which data pokok fields hold a value
  and which document slots have a document, each remembered with the stream version that last
  said so (events can arrive out of order, as for the employee list). Never a value: the read
  model of completeness cannot leak what it never holds.
- **Requirements.** What the record must hold (shared/reference/completeness.json, editable):
  a base set per status, plus the record documents of the layanan the employee will soon need
  (retirement near, a KP due, a CPNS to be appointed PNS, KGB), as the catalogue lists them.
  Confidential slots are never required: the feed withholds them, and "missing SK hukdis"
  would itself be a disclosure.
- **Rollups.** Per OPD, instansi or fasilitator: employees, complete ones, items required and
  present, percentages.
- **Workload.** One request's path through the workflow, from its steps in any order: the stage
  it is in, since when, working days in BKD's hands per stage, and whether that breaks the
  layanan's SLA."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

from shared.calendar import working_days_between
from shared.career import add_months
from shared.errors import ConfigError
from shared.reference import completeness_config, document_slots, layanan_catalogue

# -- presence ------------------------------------------------------------------------------------


def _filled(value) -> bool:
    return value is not None and value != "" and value != [] and value != {}


@dataclass
class Presence:
    """Per field: [stream version, filled]; per slot: the stream version of its first
    document (a slot only gains versions, records never empties one)."""

    nip: str
    fields: dict = field(default_factory=dict)
    slots: dict = field(default_factory=dict)
    stream_version: int = 0

    def _set(self, name: str, filled: bool, version: int) -> bool:
        known = self.fields.get(name)
        if known is not None and known[0] > version:
            return False
        self.fields[name] = [version, filled]
        return known is None or known[1] != filled

    def apply(self, event_type: str, version: int, payload: dict) -> bool:
        """Fold one records event of this employee; False when it changes nothing we keep."""
        self.stream_version = max(self.stream_version, version)
        if payload.get("withheld"):
            return False  # a confidential part: we never know of it
        changed = False
        if event_type == "EmployeeRegistered":
            for name, value in payload.items():
                if name != "nip":
                    changed |= self._set(name, _filled(value), version)
        elif event_type in ("DataPokokChanged", "LayananOutcomeApplied"):
            for name, value in (payload.get("changes") or {}).items():
                changed |= self._set(name, _filled(value), version)
        elif event_type == "DocumentAttached":
            slot = payload.get("slot")
            if slot and (slot not in self.slots or self.slots[slot] > version):
                changed = slot not in self.slots
                self.slots[slot] = version
        return changed

    def filled_fields(self) -> set[str]:
        return {name for name, (_, filled) in self.fields.items() if filled}


# -- requirements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    statuses: tuple[str, ...]
    base: dict  # status or "all" -> {"fields": [...], "documents": [...]}
    bup_default_age: int
    upcoming: dict  # layanan code -> rule
    layanan_slots: dict  # layanan code -> tuple of record slots its mandatory documents fill
    field_names: dict


@cache
def rules() -> Rules:
    """completeness.json, checked: every slot known and none confidential, every upcoming
    layanan in the catalogue."""
    raw = completeness_config()
    slots = document_slots()
    public = {code for code, slot in slots.items() if not slot["confidential"]}
    for part, wanted in raw["base"].items():
        for slot in wanted.get("documents", ()):
            if slot not in slots:
                raise ConfigError(f"completeness.json base.{part}: slot {slot} unknown",
                                  field="completeness.base")
            if slot not in public:
                raise ConfigError(f"completeness.json base.{part}: slot {slot} is confidential",
                                  field="completeness.base")
    catalogue = {entry["kode"]: entry for entry in layanan_catalogue()["layanan"]}
    mapping = raw["layanan_documents"]
    layanan_slots = {}
    for kode, rule in raw["upcoming"].items():
        if kode not in catalogue:
            raise ConfigError(f"completeness.json upcoming: layanan {kode} unknown",
                              field="completeness.upcoming")
        if rule["rule"] not in ("bup_within", "years_in_rank", "status"):
            raise ConfigError(f"completeness.json upcoming.{kode}: rule {rule['rule']} unknown",
                              field="completeness.upcoming")
        layanan_slots[kode] = tuple(dict.fromkeys(
            mapping[doc["code"]] for doc in catalogue[kode]["documents"]
            if doc.get("mandatory") and doc["code"] in mapping
            and mapping[doc["code"]] in public))
    return Rules(tuple(raw["statuses"]), raw["base"], int(raw["bup_default_age"]),
                 raw["upcoming"], layanan_slots, raw["field_names"])


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def bup_date(employee: dict, rules_: Rules) -> date | None:
    """The TMT pensiun given (the record's, else the one the BUP of the jabatan gives:
    shared/career.py), else the first of the month after the lowest BUP age."""
    tmt = _as_date(employee.get("tmt_pensiun"))
    if tmt is not None:
        return tmt
    born = _as_date(employee.get("date_of_birth"))
    if born is None:
        return None
    return add_months(date(born.year + rules_.bup_default_age, born.month, 1), 1)


def upcoming_layanan(employee: dict, today: date, rules_: Rules | None = None) -> list[str]:
    """The layanan this employee will soon need, by the configured rules."""
    rules_ = rules_ or rules()
    status, out = employee.get("status"), []
    for kode, rule in rules_.upcoming.items():
        if status not in rule["statuses"]:
            continue
        if rule["rule"] == "status":
            out.append(kode)
        elif rule["rule"] == "bup_within":
            bup = bup_date(employee, rules_)
            if bup is not None and bup <= add_months(today, rule["months"]):
                out.append(kode)
        elif rule["rule"] == "years_in_rank":
            since = _as_date(employee.get("tmt_golongan")) or _as_date(employee.get("tmt_cpns"))
            if since is not None and add_months(since, 12 * rule["years"]) <= add_months(
                    today, rule.get("lead_months", 0)):
                out.append(kode)
    return out


@dataclass(frozen=True)
class Requirement:
    fields: tuple[str, ...]
    documents: tuple[str, ...]
    layanan: tuple[str, ...]


def requirement(employee: dict, today: date, rules_: Rules | None = None) -> Requirement:
    """What this employee's record must hold today."""
    rules_ = rules_ or rules()
    status = employee.get("status")
    parts = [rules_.base.get("all", {}), rules_.base.get(status, {})]
    fields_ = tuple(dict.fromkeys(f for p in parts for f in p.get("fields", ())))
    documents = [d for p in parts for d in p.get("documents", ())]
    layanan = upcoming_layanan(employee, today, rules_)
    for kode in layanan:
        documents += rules_.layanan_slots[kode]
    return Requirement(fields_, tuple(dict.fromkeys(documents)), tuple(layanan))


def assess(employee: dict, filled: set[str], attached: set[str], today: date,
           rules_: Rules | None = None) -> dict:
    """One employee against their requirement: what is missing, counts, percentage."""
    need = requirement(employee, today, rules_)
    missing_fields = [f for f in need.fields if f not in filled]
    missing_documents = [d for d in need.documents if d not in attached]
    required = len(need.fields) + len(need.documents)
    present = required - len(missing_fields) - len(missing_documents)
    return {"layanan": list(need.layanan), "missing_fields": missing_fields,
            "missing_documents": missing_documents, "required": required, "present": present,
            "percent": percent(present, required), "complete": present == required}


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 100.0


@dataclass
class Tally:
    """A rollup group's running sums."""

    employees: int = 0
    complete: int = 0
    required: int = 0
    present: int = 0

    def add(self, assessed: dict) -> None:
        self.employees += 1
        self.complete += assessed["complete"]
        self.required += assessed["required"]
        self.present += assessed["present"]

    def figures(self) -> dict:
        return {"employees": self.employees, "complete": self.complete,
                "complete_percent": percent(self.complete, self.employees),
                "required": self.required, "present": self.present,
                "percent": percent(self.present, self.required)}


# -- verification workload -----------------------------------------------------------------------

#: request event -> the stage after it (services/requests/domain.py TRANSITIONS)
STAGE_AFTER = {"RequestSubmitted": "submitted", "VerificationStarted": "under_verification",
               "RequestReturned": "returned", "RequestVerified": "under_approval",
               "RequestApproved": "approved", "RequestRejected": "rejected",
               "RequestWithdrawn": "withdrawn", "SigningStarted": "signing",
               "RequestCompleted": "completed"}
#: stages whose clock is BKD's (requests domain.STAGES: verification and approval)
STAGE_CLOCK = {"submitted": "verification", "under_verification": "verification",
               "under_approval": "approval"}
OPEN_STAGES = frozenset(STAGE_CLOCK)
DECIDED = frozenset({"approved", "rejected", "signing", "completed"})


def request_summary(steps: list[tuple[int, str, date]], today: date,
                    holidays: frozenset = frozenset()) -> dict:
    """`steps`: (stream version, event type, WIB day) of one request, in any order. The stage
    it is in, since when, working days in BKD's hands per clock (to today while still there),
    and the decision day."""
    days = {"verification": 0, "approval": 0}
    stage = since = submitted = decided = None
    for _, kind, day in sorted(steps):
        if stage in STAGE_CLOCK and since is not None:
            days[STAGE_CLOCK[stage]] += working_days_between(since, day, holidays)
        if kind == "RequestSubmitted" and submitted is None:
            submitted = day
        if kind in ("RequestApproved", "RequestRejected") and decided is None:
            decided = day
        stage, since = STAGE_AFTER[kind], day
    if stage in STAGE_CLOCK and since is not None:
        days[STAGE_CLOCK[stage]] += working_days_between(since, today, holidays)
    return {"stage": stage, "since": since, "submitted": submitted, "decided": decided,
            "verification_days": days["verification"], "approval_days": days["approval"],
            "bkd_days": days["verification"] + days["approval"]}


# -- fasilitator assignments ---------------------------------------------------------------------

#: what of an identity event an assignment needs (never e-mail, phone or anything else)
ASSIGNMENT_KEYS = ("display_name", "roles", "role", "opd_scope")


def fold_assignment(steps: list[tuple[int, str, dict]]) -> dict:
    """An account's steps (version, event type, payload cut to ASSIGNMENT_KEYS), in any order,
    folded as identity folds them (services/identity/domain.py): a granted role adds its OPDs,
    revoking the fasilitator role empties the scope, a scope change replaces it."""
    name, roles, scope, enabled = None, set(), set(), True
    for _, kind, p in sorted(steps, key=lambda s: s[0]):
        if kind == "AccountRegistered":
            name, roles, scope = p.get("display_name"), set(p.get("roles") or ()), set(
                p.get("opd_scope") or ())
        elif kind == "RoleGranted":
            roles.add(p.get("role"))
            scope |= set(p.get("opd_scope") or ())
        elif kind == "RoleRevoked":
            roles.discard(p.get("role"))
            if p.get("role") == "fasilitator":
                scope = set()
        elif kind == "OpdScopeChanged":
            scope = set(p.get("opd_scope") or ())
        elif kind in ("AccountDisabled", "AccountEnabled"):
            enabled = kind == "AccountEnabled"
    return {"display_name": name, "fasilitator": "fasilitator" in roles,
            "opd_scope": sorted(scope), "active": enabled}
