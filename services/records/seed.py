"""The demo province's employee records (`simasn seed demo`): for every demo pegawai account a
record that holds together — identity data from the NIP, S-1 entry at III/a, a pangkat every
four years up to the S-1 ceiling, a gaji berkala every two years, SKP for the last two years —
written through the records use cases, so every rule applies and every change is an event.
Safe to run again: an employee already registered is left as is."""

from __future__ import annotations

from datetime import date

from services.records import domain
from services.records.events import REGISTRY
from services.records.exceptions import EmployeeExists
from services.records.usecases import employees
from shared.auth import Principal
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore

SEEDER = Principal("system:seed", frozenset({"administrator"}), frozenset())
CONTEXT = {"actor_id": "system:seed", "actor_role": "system"}
REASON = "data demo (simasn seed demo)"
LADDER = ("III/a", "III/b", "III/c", "III/d")  # S-1: from III/a up to its ceiling
GAJI_POKOK = {"III/a": 2_785_700, "III/b": 2_903_600, "III/c": 3_026_400, "III/d": 3_154_400}


def _years_later(day: date, years: int) -> date:
    return day.replace(year=day.year + years)


def record_for(nip: str, name: str, opd_id: str, today: date) -> tuple[dict, list[tuple]]:
    """(registration, [(history, entry_id, entry)]) for one demo pegawai."""
    born = date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    tmt = date(int(nip[8:12]), int(nip[12:14]), 1)
    registration = {"nip": nip, "name": name, "date_of_birth": born.isoformat(),
                    "gender": domain.MALE if nip[14] == "1" else domain.FEMALE,
                    "status": domain.PNS, "tmt_cpns": tmt.isoformat(),
                    "tmt_pns": _years_later(tmt, 1).isoformat(), "opd_id": opd_id,
                    "golongan": LADDER[0], "education_id": "40", "religion": "Islam",
                    "marital_status": "Kawin"}
    entries = []
    for step, golongan in enumerate(LADDER):
        when = _years_later(tmt, 4 * step)
        if when > today:
            break
        entries.append(("pangkat", f"demo-pangkat-{step}", {"golongan": golongan,
                                                             "tmt": when.isoformat()}))
    for step in range(1, 20):
        when = _years_later(tmt, 2 * step)
        if when > today:
            break
        rank = LADDER[min(step // 2, len(LADDER) - 1)]
        entries.append(("gaji_berkala", f"demo-kgb-{step}", {
            "tmt": when.isoformat(), "gaji_pokok": GAJI_POKOK[rank], "golongan": rank,
            "masa_kerja_tahun": 2 * step}))
    for year in (today.year - 2, today.year - 1):
        if year > tmt.year:
            entries.append(("kinerja", f"demo-skp-{year}", {"tahun": year, "predikat": "Baik"}))
    return registration, entries


def seed_records(database_url: str, pegawai: list[tuple[str, str, str]],
                 today: date | None = None, on_each=None) -> tuple[int, int]:
    """`pegawai`: (NIP, name, OPD). Returns (registered, already there)."""
    today = today or date.today()
    engine = make_engine(database_url, schema="records", pool_size=1)
    db = ServiceDatabase(engine, EventStore("records", REGISTRY), CONTEXT)
    created = skipped = 0
    try:
        for nip, name, opd_id in pegawai:
            registration, entries = record_for(nip, name, opd_id, today)
            try:
                with db.transaction() as uow:
                    record = employees.register(uow, SEEDER, registration, REASON)
                    for history, entry_id, entry in entries:
                        record = employees.record_history(uow, SEEDER, nip, {
                            "history": history, "entry_id": entry_id, "entry": entry,
                            "documents": [], "expected_version": record["version"],
                            "reason": REASON})
                created += 1
            except EmployeeExists:
                skipped += 1
            if on_each:
                on_each()
    finally:
        engine.dispose()
    return created, skipped
