"""The catalogue of layanan: loaded from the versioned data file and checked before use, so a
mistyped rule or a document listed twice is found when the catalogue is published, not when an
employee asks; and its use cases: seeded at start, read, changed with a new SOP (a higher
version, approved by the SIMASN team), switched off by decree."""

from __future__ import annotations

import orjson

from services.requests import domain
from shared.auth import Principal
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, NewEvent
from shared.reference import document_slots, layanan_catalogue

#: parameters each rule needs (the rest of a rule's spec is refused as unknown)
RULE_PARAMS = {
    "status_in": {"statuses"}, "married": set(), "service_milestone": {"years"},
    "no_penalty": {"levels"}, "no_running_penalty": {"levels"}, "golongan_in": {"golongan"},
    "years_in_rank": {"years", "at?"}, "education_ceiling": set(),
    "skp_min": {"years", "predicate"}, "kgb_due": {"years", "lead_months?"},
    "bup": {"months_before"}, "probation": {"years"}, "has_diklat": {"jenis"},
    "jabatan": {"jenis"}, "not_jabatan": {"jenis"}, "education_above_rank": set(),
    "education_min": {"education_id"},
}
CONDITIONS = {"golongan_in", "first_kp", "married", "has_history", "tmt_cpns_from"}


class CatalogueInvalid(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def entry_problems(entry: dict) -> list[str]:
    """What is wrong with one catalogue entry (empty when it can be published)."""
    kode = entry.get("kode", "?")
    problems = []
    for key in ("kode", "nama", "eligibility", "documents", "output", "sla_hari_kerja", "sop",
                "submitters", "dasar_hukum"):
        if not entry.get(key):
            problems.append(f"{kode}: {key} wajib diisi")
    sop = entry.get("sop") or {}
    if not sop.get("nomor") or not isinstance(sop.get("versi"), int):
        problems.append(f"{kode}: SOP (nomor dan versi) wajib ada")
    for spec in entry.get("eligibility") or []:
        name = spec.get("rule")
        if name not in domain.RULES:
            problems.append(f"{kode}: aturan {name!r} tidak dikenal")
            continue
        wanted = RULE_PARAMS[name]
        required = {p for p in wanted if not p.endswith("?")}
        allowed = {p.rstrip("?") for p in wanted}
        given = set(spec) - {"rule"}
        if required - given:
            problems.append(f"{kode}: aturan {name} perlu {', '.join(sorted(required - given))}")
        if given - allowed:
            problems.append(f"{kode}: aturan {name} tidak mengenal "
                            f"{', '.join(sorted(given - allowed))}")
    codes = [d.get("code") for d in entry.get("documents") or []]
    if len(codes) != len(set(codes)):
        problems.append(f"{kode}: kode dokumen ganda")
    options = entry.get("options") or {}
    for doc in entry.get("documents") or []:
        when = doc.get("when")
        if when is None:
            continue
        if "option" in when:
            if when["equals"] not in options.get(when["option"], []):
                problems.append(f"{kode}: dokumen {doc['code']} bergantung pada pilihan "
                                f"{when['option']}={when['equals']!r} yang tidak ada")
        elif when.get("record") not in CONDITIONS:
            problems.append(f"{kode}: syarat dokumen {when!r} tidak dikenal")
    if set(entry.get("submitters") or []) - {"pegawai", "fasilitator", "administrator"}:
        problems.append(f"{kode}: pengaju hanya pegawai, fasilitator atau administrator")
    if "repeat" in entry:
        problems += repeat_problems(entry)
    return problems


def repeat_problems(entry: dict) -> list[str]:
    """What is wrong with an entry's repeat rule (whether, and when, it is granted again)."""
    kode, spec = entry.get("kode", "?"), entry.get("repeat")
    if not isinstance(spec, dict) or spec.get("rule") not in domain.REPEAT_PARAMS:
        return [f"{kode}: aturan pemberian ulang harus salah satu dari "
                f"{', '.join(domain.REPEAT_PARAMS)}"]
    wanted = domain.REPEAT_PARAMS[spec["rule"]]
    required = {p for p in wanted if not p.endswith("?")}
    given = set(spec) - {"rule", "note"}
    problems = []
    if required - given:
        problems.append(f"{kode}: aturan pemberian ulang {spec['rule']} perlu "
                        f"{', '.join(sorted(required - given))}")
    if given - {p.rstrip("?") for p in wanted}:
        problems.append(f"{kode}: aturan pemberian ulang {spec['rule']} tidak mengenal "
                        f"{', '.join(sorted(given - {p.rstrip('?') for p in wanted}))}")
    for key in ("years", "lead_months"):
        if key in spec and not (isinstance(spec[key], int) and 0 <= spec[key] <= 40
                                and (key != "years" or spec[key] >= 1)):
            problems.append(f"{kode}: {key} pemberian ulang harus bilangan bulat wajar")
    replacement = spec.get("replacement")
    if replacement is not None:
        options = entry.get("options") or {}
        documents = {d.get("code") for d in entry.get("documents") or []}
        if not isinstance(replacement, dict):
            problems.append(f"{kode}: penggantian harus {{option, values}} atau {{document}}")
        elif "option" in replacement:
            values = replacement.get("values")
            if not isinstance(values, list) or not values or \
                    set(values) - set(options.get(replacement["option"], [])):
                problems.append(f"{kode}: penggantian menyebut pilihan "
                                f"{replacement['option']}={values!r} yang tidak ada")
        elif replacement.get("document") not in documents:
            problems.append(f"{kode}: penggantian menyebut dokumen "
                            f"{replacement.get('document')!r} yang tidak diminta layanan ini")
    return problems


def repeat_rule(entry: dict) -> dict:
    """The entry's repeat rule; an entry published before entries had one takes the rule the
    shipped catalogue gives its layanan (and a layanan it does not know repeats freely)."""
    if entry.get("repeat"):
        return entry["repeat"]
    shipped = {e["kode"]: e for e in layanan_catalogue()["layanan"]}.get(entry.get("kode"))
    return (shipped or {}).get("repeat") or {"rule": "unlimited"}


def seed() -> list[dict]:
    """The catalogue as shipped, checked: every entry publishable."""
    entries = layanan_catalogue()["layanan"]
    problems = [p for entry in entries for p in entry_problems(entry)]
    if problems:
        raise CatalogueInvalid(problems)
    return entries


def slot_for(document_code: str) -> str | None:
    """The employee-record slot a request document corresponds to, when there is one (so a
    document already on the record can be reused)."""
    return document_code if document_code in document_slots() else None


# -- the catalogue's use cases ---------------------------------------------------------------

#: catalogue fields a change may set (kode and the version are the system's)
CHANGEABLE = ("nama", "deskripsi", "dasar_hukum", "eligibilitas_teks", "eligibility",
              "documents", "options", "output", "penerbit_output", "sla_hari_kerja",
              "submitters", "repeat")


def layanan_stream(kode: str) -> str:
    return f"layanan:{kode}"


def _publish(uow, kode: str, version: int, entry: dict, approval: dict, reason: str,
             expected: int | None = None) -> None:
    uow.append(layanan_stream(kode), "Layanan", NO_STREAM if version == 1 else expected,
               [NewEvent("LayananPublished", {"kode": kode, "version": version, "entry": entry,
                                              "sop": entry["sop"], "approval": approval})],
               reason=reason)
    uow.execute(
        "INSERT INTO layanan (kode, version, entry) VALUES (:k, :v, CAST(:e AS jsonb)) "
        "ON CONFLICT (kode) DO UPDATE SET version = EXCLUDED.version, entry = EXCLUDED.entry, "
        "updated_at = now()", {"k": kode, "v": version, "e": orjson.dumps(entry).decode()})


def seed_catalogue(uow) -> list[str]:
    """Publish version 1 of every shipped entry not yet in the log (idempotent)."""
    present = {row[0] for row in uow.execute("SELECT kode FROM layanan")}
    added = []
    for entry in seed():
        if entry["kode"] in present:
            continue
        _publish(uow, entry["kode"], 1, {**entry, "version": 1}, {},
                 "katalog awal (Pergub Jatim 73/2020)")
        added.append(entry["kode"])
    return added


def layanan(uow, kode: str) -> dict:
    row = uow.execute("SELECT version, active, entry::text, decree_number, decree_date "
                      "FROM layanan WHERE kode = :k", {"k": kode}).first()
    if row is None:
        raise NotFound(f"layanan {kode[:40]} tidak ada dalam katalog", field="layanan")
    entry = orjson.loads(row[2])
    entry["repeat"] = repeat_rule(entry)
    return {**entry, "version": row[0], "active": row[1], "decree_number": row[3],
            "decree_date": row[4].isoformat() if row[4] else None}


def list_catalogue(uow) -> list[dict]:
    return [layanan(uow, kode) for (kode,) in uow.execute("SELECT kode FROM layanan ORDER BY kode")]


def catalogue_version(uow, kode: str, version: int) -> dict:
    """The entry exactly as it was published at `version` (what a request was submitted under)."""
    for event in uow.read_stream(layanan_stream(kode)):
        if event.event_type == "LayananPublished" and event.payload["version"] == version:
            return event.payload["entry"]
    raise NotFound(f"layanan {kode} versi {version} tidak ada", field="catalogue_version")


def change_layanan(uow, actor: Principal, kode: str, data: dict) -> dict:
    """A changed service: approved by the SIMASN team and carrying its new SOP (a higher
    version), checked as a whole before it is published."""
    actor.require("administrator")
    current = layanan(uow, kode)
    sop = data.get("sop") or {}
    if not sop.get("nomor") or not isinstance(sop.get("versi"), int):
        raise ValidationFailed("perubahan layanan wajib disertai SOP baru (nomor dan versi)",
                               field="sop")
    if sop["versi"] <= current["sop"]["versi"]:
        raise ValidationFailed(f"versi SOP harus lebih tinggi dari {current['sop']['versi']}",
                               field="sop.versi")
    approval = data.get("approval") or {}
    if not approval.get("reference"):
        raise ValidationFailed("perubahan layanan perlu persetujuan tim SIMASN (nomor berita "
                               "acara/keputusan)", field="approval.reference")
    unknown = sorted(set(data.get("changes") or {}) - set(CHANGEABLE))
    if unknown:
        raise ValidationFailed(f"kolom {unknown[0]} tidak dapat diubah",
                               field=f"changes.{unknown[0]}")
    entry = {k: v for k, v in current.items()
             if k not in ("active", "decree_number", "decree_date")}
    entry.update(data.get("changes") or {})
    entry["sop"] = {"nomor": sop["nomor"], "versi": sop["versi"]}
    entry["version"] = current["version"] + 1
    problems = entry_problems(entry)
    if problems:
        raise ValidationFailed(problems[0], field="changes", details={"problems": problems})
    # the stream as read: two changes made at once cannot both become the same version
    _publish(uow, kode, entry["version"], entry,
             {"reference": approval["reference"], "approved_by": actor.account_id},
             data["reason"], expected=len(uow.read_stream(layanan_stream(kode))))
    return layanan(uow, kode)


def deactivate_layanan(uow, actor: Principal, kode: str, data: dict) -> dict:
    actor.require("administrator")
    current = layanan(uow, kode)
    if not current["active"]:
        raise Conflict(f"layanan {kode} sudah dinonaktifkan dengan keputusan "
                       f"{current['decree_number']}", field="layanan")
    uow.append(layanan_stream(kode), "Layanan", None, [NewEvent("LayananDeactivated", {
        "kode": kode, "decree_number": data["decree_number"],
        "decree_date": data["decree_date"].isoformat()})], reason=data["reason"])
    uow.execute("UPDATE layanan SET active = false, decree_number = :n, decree_date = :d, "
                "updated_at = now() WHERE kode = :k",
                {"k": kode, "n": data["decree_number"], "d": data["decree_date"]})
    return layanan(uow, kode)
