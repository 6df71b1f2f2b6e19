"""Rules of the reporting service's employee read model: plain Python, no Nameko, SQLAlchemy or
marshmallow.

One row per NIP, folded from the records events as the bus and the feed carry them (confidential
parts already withheld by records' redactors). Events of one employee can reach us out of order
(a live delivery does not wait for a catch-up another worker runs, shared/subscriptions.py), so
each field remembers the stream version that last set it and an older event never overwrites a
newer value; the current golongan and jabatan are the history entries with the latest TMT,
whatever order they arrived in. Who may list whom (`Scope`) is decided here too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache

from shared.career import bup_age_of, retirement_day
from shared.reference import PROVINCE, domain_data, instansi, reporting_lists

#: data pokok copied from the record into the list (never confidential ones, never NIK,
#: address, phone or e-mail: a list is not the record)
POKOK = ("name", "gelar_depan", "gelar_belakang", "instansi", "opd_id", "opd_name", "unit",
         "status", "gender", "date_of_birth", "education_id", "tmt_cpns", "tmt_pns",
         "tmt_pensiun", "golongan")
#: what the history entries decide: (golongan, tmt_golongan) from pangkat; jabatan from jabatan
DERIVED = ("golongan", "tmt_golongan", "jabatan", "jenis_jabatan", "eselon", "tmt_jabatan")
#: what the lists BKD works from need of the other histories, each the greatest seen so it
#: does not matter in which order the entries arrive: the last KGB's TMT (gaji_berkala), the
#: highest latihan jabatan (diklat, levels in reporting-lists.json), the highest education
#: recorded in the pendidikan history
MAXIMA = ("last_kgb_tmt", "diklat_level", "pendidikan_top")
COLUMNS = tuple(dict.fromkeys(POKOK + DERIVED + MAXIMA))
#: computed from the columns whenever a row is written: ranks to order by, the retirement age
#: of the jabatan in force (BUP, shared/career.py) and the TMT pensiun it gives
COMPUTED = ("golongan_rank", "eselon_rank", "education_rank", "bup_age", "tmt_bup")
RETIRED = "Pensiun"
STATUSES = ("CPNS", "PNS", "PPPK", RETIRED)
JENIS_JABATAN = ("struktural", "fungsional", "pelaksana")
#: age bands of the BKD statistics, in whole years: code -> (youngest, oldest or None)
AGE_BANDS = {"<30": (0, 29), "30-39": (30, 39), "40-49": (40, 49), "50-59": (50, 59),
             "60+": (60, None)}


@cache
def golongan_ranks() -> dict[str, int]:
    """"III/a" -> 9: the order of the golongan (I/a = 1 .. IV/e = 17)."""
    return {g["gol_ruang"]: g["urutan"] for g in domain_data()["golongan_pns"]}


@cache
def eselon_ranks() -> dict[str, int]:
    """"I.a" -> 10 .. "V.b" -> 1: the higher the eselon, the greater (NON has none)."""
    codes = [e["eselon"] for e in domain_data()["jenis_jabatan"]["eselon_siasn"]
             if e["eselon"] != "NON"]
    return {code: len(codes) - n for n, code in enumerate(codes)}


def education_rank(*ids: str | None) -> int | None:
    """The highest of these SIASN education levels (their codes grow with the level)."""
    levels = [int(i) for i in ids if i and str(i).isdigit()]
    return max(levels) if levels else None


def latihan_jabatan_level(entry: dict) -> int | None:
    """The level of a diklat entry as a latihan jabatan (DUK), by the editable patterns of
    reporting-lists.json; None when its kind is not a latihan jabatan."""
    rules = reporting_lists()["latihan_jabatan"]
    if entry.get("jenis") not in rules["jenis"]:
        return None
    name = str(entry.get("nama") or "").lower()
    return next((r["level"] for r in rules["levels"] if re.search(r["pattern"], name)), None)


def _day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def computed(values: dict) -> dict:
    """The COMPUTED columns of a row with these values."""
    bup, _ = bup_age_of(values.get("jenis_jabatan"), values.get("jabatan"), values.get("eselon"))
    born = _day(values.get("date_of_birth"))
    return {"golongan_rank": golongan_ranks().get(values.get("golongan")),
            "eselon_rank": eselon_ranks().get(values.get("eselon") or ""),
            "education_rank": education_rank(values.get("education_id"),
                                              values.get("pendidikan_top")),
            "bup_age": bup, "tmt_bup": retirement_day(born, bup) if born else None}


@cache
def education_levels() -> dict[str, str]:
    return {e["id"]: e["nama"] for e in domain_data()["tingkat_pendidikan_siasn"]}


@dataclass
class EmployeeRow:
    """The read model's state of one employee: its columns, the stream version that set each
    one (`versions`), the TMT of the pangkat and jabatan entries in force, and the highest
    stream version seen."""

    nip: str
    values: dict
    versions: dict
    stream_version: int = 0

    @classmethod
    def empty(cls, nip: str) -> EmployeeRow:
        return cls(nip, {}, {}, 0)

    def _set(self, name: str, value, version: int) -> None:
        if version >= self.versions.get(name, 0):
            self.values[name] = value
            self.versions[name] = version

    def copy(self) -> EmployeeRow:
        return EmployeeRow(self.nip, dict(self.values), dict(self.versions), self.stream_version)

    def _raise(self, name: str, value, key=None) -> bool:
        """Keep the greatest value seen (by `key`): the same whatever the order."""
        if value is None:
            return False
        known = self.values.get(name)
        if known is None or (key or str)(value) > (key or str)(known):
            self.values[name] = value
            return True
        return False

    def _newer_entry(self, kind: str, tmt: str | None, version: int) -> bool:
        """An entry dated `tmt` is the one in force unless one with a later TMT (or the same
        TMT recorded later) is known already."""
        if not tmt:
            return False
        known = self.versions.get(f"{kind}_entry")
        if known is None or (tmt, version) >= (known[0], known[1]):
            self.versions[f"{kind}_entry"] = [tmt, version]
            return True
        return False

    def apply(self, event_type: str, version: int, payload: dict) -> bool:
        """Fold one records event of this employee; False when it changes nothing we keep."""
        self.stream_version = max(self.stream_version, version)
        if event_type == "EmployeeRegistered":
            for name in POKOK:
                if name == "golongan" and "pangkat_entry" in self.versions:
                    continue  # a pangkat entry already decided it
                self._set(name, payload.get(name) if name != "instansi"
                          else payload.get("instansi") or PROVINCE, version)
            if "pangkat_entry" not in self.versions:
                self._set("tmt_golongan", payload.get("tmt_cpns"), version)
            return True
        if event_type in ("DataPokokChanged", "LayananOutcomeApplied"):
            changes = payload.get("changes") or {}
            for name, value in changes.items():
                if name == "golongan" and "pangkat_entry" in self.versions:
                    continue  # the pangkat entry of the same event (or a later one) decides
                if name in POKOK:
                    self._set(name, value, version)
            for item in payload.get("entries") or ():
                self._entry(item.get("history"), item.get("entry") or {}, version)
            return True
        if event_type == "HistoryEntryRecorded":
            if payload.get("withheld"):
                return False  # a confidential history: nothing of it reaches us
            return self._entry(payload.get("history"), payload.get("entry") or {}, version)
        return False

    def _entry(self, history: str | None, entry: dict, version: int) -> bool:
        if history == "pangkat" and self._newer_entry("pangkat", entry.get("tmt"), version):
            self.values["golongan"] = entry.get("golongan")
            self.values["tmt_golongan"] = entry.get("tmt")
            return True
        if history == "jabatan" and self._newer_entry("jabatan", entry.get("tmt"), version):
            self.values.update({"jabatan": entry.get("nama_jabatan"),
                                "jenis_jabatan": entry.get("jenis_jabatan"),
                                "eselon": entry.get("eselon"), "tmt_jabatan": entry.get("tmt")})
            return True
        if history == "gaji_berkala":
            return self._raise("last_kgb_tmt", entry.get("tmt"))
        if history == "diklat":
            return self._raise("diklat_level", latihan_jabatan_level(entry), int)
        if history == "pendidikan":
            return self._raise("pendidikan_top", entry.get("education_id"),
                               lambda i: int(i) if str(i).isdigit() else -1)
        return False


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def birth_dates_for_ages(youngest: int | None, oldest: int | None,
                         today: date) -> tuple[date | None, date | None]:
    """(born after, born on or before): the birth dates of people aged `youngest`..`oldest`
    whole years today."""
    latest = _years_before(today, youngest) if youngest else None
    earliest = _years_before(today, oldest + 1) if oldest is not None else None
    return earliest, latest


# -- who may list whom -------------------------------------------------------------------------

#: a kabupaten/kota's machine actor: identity's client of the region or the sync service
#: acting for it (as records judges them, services/records/usecases/employees.py)
REGION_ACTOR = re.compile(r"^(?:kabkota-|sync:)(35\d\d)$")


@dataclass(frozen=True)
class Scope:
    """The employees a caller may find: every one (`everyone`), or those of these provincial
    OPDs, or of this kabupaten/kota."""

    everyone: bool = False
    opds: tuple[str, ...] = ()
    instansi: str | None = None


def scope_for(account_id: str, roles: frozenset[str], opd_scope: frozenset[str]) -> Scope | None:
    """BKD's administrators and auditors: everyone; a region's machine actor: its instansi; a
    fasilitator: the province's OPDs assigned to it. Anyone else (a pegawai reads their own
    record, not a list): None."""
    if "machine" in roles:
        match = REGION_ACTOR.match(account_id or "")
        code = match.group(1) if match else None
        if code in instansi() and code != PROVINCE:
            return Scope(instansi=code)
        return None
    if roles & {"administrator", "auditor"}:
        return Scope(everyone=True)
    if "fasilitator" in roles:
        return Scope(opds=tuple(sorted(opd_scope)))
    return None


# -- data requests (permintaan data, issue 17 part 2) ------------------------------------------

#: the columns of the employee list a data request may ask for, with their headings: never
#: NIK, address, phone or e-mail (the list does not hold them), never a confidential field
REQUESTABLE_FIELDS = {
    "nip": "NIP", "name": "Nama", "gelar_depan": "Gelar depan",
    "gelar_belakang": "Gelar belakang", "gender": "L/P", "date_of_birth": "Tanggal lahir",
    "status": "Status", "instansi": "Instansi", "opd_id": "Kode OPD", "opd_name": "OPD",
    "unit": "Unit kerja", "golongan": "Gol/ruang", "tmt_golongan": "TMT golongan",
    "jabatan": "Jabatan", "jenis_jabatan": "Jenis jabatan", "eselon": "Eselon",
    "tmt_jabatan": "TMT jabatan", "education_id": "Kode pendidikan", "tmt_cpns": "TMT CPNS",
    "tmt_pns": "TMT PNS", "tmt_pensiun": "TMT pensiun"}
DATE_FIELDS = frozenset({"date_of_birth", "tmt_golongan", "tmt_jabatan", "tmt_cpns", "tmt_pns",
                         "tmt_pensiun"})
#: who may file a data request: staff of an OPD asking for another OPD's data, BKD and
#: auditors (for a third party they represent), and an external requester's account
REQUESTERS = ("fasilitator", "administrator", "auditor", "peminta_data")

DR_SUBMITTED, DR_REFUSED, DR_APPROVED, DR_RELEASED = ("submitted", "refused", "approved",
                                                      "released")
DR_STATE_NAMES = {DR_SUBMITTED: "diajukan", DR_REFUSED: "ditolak",
                  DR_APPROVED: "disetujui, menunggu persetujuan pegawai",
                  DR_RELEASED: "data diserahkan"}
#: event -> (states it may happen in, state after); DataRequestFiled starts a request
DATA_REQUEST_TRANSITIONS = {
    "DataRequestApproved": ({DR_SUBMITTED}, DR_APPROVED),
    "DataRequestRefused": ({DR_SUBMITTED}, DR_REFUSED),
    "DataRequestReleased": ({DR_APPROVED}, DR_RELEASED),
}
CONSENT_PENDING, CONSENT_GIVEN, CONSENT_REFUSED = "pending", "given", "refused"


def data_request_step(state: str, event_type: str) -> str | None:
    """Why `event_type` may not happen to a data request in `state`, or None."""
    sources, _ = DATA_REQUEST_TRANSITIONS[event_type]
    if state in sources:
        return None
    return (f"langkah ini tidak dapat dilakukan pada permintaan data berstatus "
            f"{DR_STATE_NAMES.get(state, state)}")


def data_request_four_eyes(requester: str, actor: str) -> str | None:
    """The one who asked for the data never decides their own request (an administrator
    filing one for a third party leaves the decision to another)."""
    if requester == actor:
        return "peminta data tidak boleh memutus permintaannya sendiri (empat mata)"
    return None


def releasable(consents: dict[str, str]) -> list[str]:
    """The NIPs whose data may leave: those who gave consent, and nobody else (a refusal and
    no answer yet both keep a person out)."""
    return sorted(nip for nip, consent in consents.items() if consent == CONSENT_GIVEN)
