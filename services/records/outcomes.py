"""What a completed layanan changes in the employee record: plain Python, no Nameko, SQLAlchemy
or marshmallow (docs/design/layanan-outcomes.md is the table of the 18).

The requests service's RequestCompleted names the layanan, the options chosen at the draft,
what the approver recorded of the decree (`outcome`) and the signed decree itself (number,
date, document). `changes_for` turns that into data pokok changes and history entries, checked
by the same rules as a change made by hand (`domain.entry_problems` for every entry) plus the
rules of the layanan (a kenaikan pangkat raises the golongan, CPNS→PNS only from CPNS, ...).
A decree that breaks a rule raises `RuleViolation`; its event is dead-lettered with the
problems, never applied in part.

A re-issued decree (requests' OutputReplaced v2: a correction with a new number) changes no
fact of the outcome; `replacement_event` moves the entries the outcome added to the new decree's
number, date and document, keeping the one they cited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.records import domain
from services.records.domain import Problem, RuleViolation
from shared.reference import opds

#: layanan whose decree changes nothing in the record, and why (docs table says the same)
NO_CHANGE = {
    "IZIN_CERAI": "izin perceraian bukan perceraian: status perkawinan berubah setelah "
                  "putusan pengadilan dilaporkan",
    "DUPAK_PAK": "data pegawai tidak menyimpan angka kredit; PAK dipakai sebagai dokumen "
                 "usulan kenaikan pangkat fungsional",
    "HUKDIS": "rahasia: tidak lewat bus; administrator mencatat riwayat hukuman disiplin",
}
#: card layanan -> the data pokok field holding the card's number
CARDS = {"KARIS_KARSU": "nomor_karis_karsu", "KARPEG": "nomor_karpeg",
         "TASPEN": "nomor_taspen", "KARTU_KESEHATAN": "nomor_bpjs"}
ROMAN = {10: "X", 20: "XX", 30: "XXX"}
RETIRED = "Pensiun"


@dataclass(frozen=True)
class Decree:
    """A completed request as RequestCompleted v2 states it."""

    request_id: str
    layanan: str
    number: str
    date: date
    output_sha256: str
    document_id: str | None = None
    options: dict = field(default_factory=dict)
    outcome: dict = field(default_factory=dict)

    @property
    def sk(self) -> dict:
        """The decree as history entries cite it."""
        return {"sk_nomor": self.number, "sk_tanggal": self.date.isoformat()}


@dataclass
class Outcome:
    changes: dict = field(default_factory=dict)
    #: (history, entry) pairs
    entries: list = field(default_factory=list)


def _d(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _need(decree: Decree, *names: str) -> list[Problem]:
    return [Problem(f"outcome.{n}", "outcome_missing",
                    f"SK {decree.layanan} tidak memuat {n} (diisi saat persetujuan)")
            for n in names if decree.outcome.get(n) in (None, "")]


def current_golongan(employee: domain.Employee) -> tuple[str | None, date | None]:
    """(golongan, TMT) of the latest pangkat entry, else the registered golongan."""
    entries = sorted(employee.histories["pangkat"], key=lambda e: e["tmt"])
    if entries:
        return entries[-1]["golongan"], _d(entries[-1]["tmt"])
    return employee.data.get("golongan"), _d(employee.data.get("tmt_cpns"))


def _kenaikan_pangkat(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "golongan", "tmt")
    if problems:
        return problems
    new, tmt = decree.outcome["golongan"], _d(decree.outcome["tmt"])
    grades = domain.golongan_list()
    current, since = current_golongan(employee)
    if new in grades and current in grades and grades[new].rank <= grades[current].rank:
        problems.append(Problem("outcome.golongan", "kp_not_higher",
                                f"kenaikan pangkat ke {new} tidak lebih tinggi dari golongan "
                                f"sekarang {current}"))
    if since and tmt <= since:
        problems.append(Problem("outcome.tmt", "kp_tmt_not_after",
                                f"TMT {tmt.isoformat()} tidak sesudah TMT pangkat sekarang "
                                f"{since.isoformat()}"))
    entry = {"golongan": new, "tmt": tmt.isoformat(), **decree.sk}
    if decree.options.get("jenis_kp"):
        entry["jenis_kp"] = decree.options["jenis_kp"]
    for name in ("masa_kerja_tahun", "masa_kerja_bulan"):
        if decree.outcome.get(name) is not None:
            entry[name] = decree.outcome[name]
    out.entries.append(("pangkat", entry))
    out.changes["golongan"] = new
    return problems


def _kgb(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "tmt", "gaji_pokok")
    if problems:
        return problems
    entry = {"tmt": _d(decree.outcome["tmt"]).isoformat(),
             "gaji_pokok": decree.outcome["gaji_pokok"], **decree.sk}
    golongan, _ = current_golongan(employee)
    if golongan:
        entry["golongan"] = golongan
    for name in ("masa_kerja_tahun", "masa_kerja_bulan"):
        if decree.outcome.get(name) is not None:
            entry[name] = decree.outcome[name]
    out.entries.append(("gaji_berkala", entry))
    return problems


def _jabatan_entry(decree: Decree, jenis: str, unit: str | None) -> dict:
    entry = {"jenis_jabatan": jenis, "nama_jabatan": decree.outcome["nama_jabatan"],
             "tmt": _d(decree.outcome["tmt"]).isoformat(), **decree.sk}
    if unit:
        entry["unit"] = unit
    if decree.outcome.get("eselon"):
        entry["eselon"] = decree.outcome["eselon"]
    return entry


def _mutasi(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "opd_id", "unit", "jenis_jabatan", "nama_jabatan", "tmt")
    if problems:
        return problems
    opd, unit = decree.outcome["opd_id"], decree.outcome["unit"]
    if opd not in opds():
        problems.append(Problem("outcome.opd_id", "opd_unknown",
                                f"perangkat daerah {opd!r} tidak dikenal"))
    out.changes.update({"opd_id": opd, "unit": unit})
    out.entries.append(("jabatan", _jabatan_entry(decree, decree.outcome["jenis_jabatan"],
                                                  unit)))
    return problems


def _pindah_jabatan(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "nama_jabatan", "tmt")
    if problems:
        return problems
    unit = decree.outcome.get("unit")
    if unit:
        out.changes["unit"] = unit
    out.entries.append(("jabatan", _jabatan_entry(decree, "pelaksana",
                                                  unit or employee.data.get("unit"))))
    return problems


def _pensiun(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "tmt_pensiun")
    if problems:
        return problems
    tmt = _d(decree.outcome["tmt_pensiun"])
    if employee.data.get("status") != domain.PNS:
        problems.append(Problem("status", "status_not_pns", "pensiun untuk PNS; status "
                                f"sekarang {employee.data.get('status')}"))
    if tmt.day != 1:
        problems.append(Problem("outcome.tmt_pensiun", "tmt_pensiun_not_first",
                                "TMT pensiun selalu tanggal 1 (bulan berikutnya setelah BUP)"))
    started = _d(employee.data.get("tmt_cpns"))
    if started and tmt <= started:
        problems.append(Problem("outcome.tmt_pensiun", "tmt_before_cpns",
                                "TMT pensiun sebelum TMT CPNS"))
    out.changes.update({"status": RETIRED, "tmt_pensiun": tmt.isoformat(),
                        "jenis_pensiun": decree.outcome.get("jenis_pensiun") or "BUP"})
    return problems


def _cpns_pns(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "tmt_pns")
    if problems:
        return problems
    tmt = _d(decree.outcome["tmt_pns"])
    if employee.data.get("status") != domain.CPNS:
        problems.append(Problem("status", "status_not_cpns",
                                f"pengangkatan menjadi PNS hanya dari CPNS; status sekarang "
                                f"{employee.data.get('status')}"))
    started = _d(employee.data.get("tmt_cpns"))
    if started and tmt <= started:
        problems.append(Problem("outcome.tmt_pns", "tmt_pns_before_cpns",
                                f"TMT PNS {tmt.isoformat()} tidak sesudah TMT CPNS "
                                f"{started.isoformat()}"))
    out.changes.update({"status": domain.PNS, "tmt_pns": tmt.isoformat()})
    return problems


def satyalancana_name(tingkat: int) -> str:
    # the requests service's service_milestone rule reads the tingkat from these words
    return f"Satyalancana Karya Satya {ROMAN[tingkat]} Tahun"


def _satyalancana(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "tingkat")
    if problems:
        return problems
    tingkat = decree.outcome["tingkat"]
    if tingkat not in ROMAN:
        return [Problem("outcome.tingkat", "satyalancana_tingkat",
                        "tingkat Satyalancana 10, 20 atau 30 tahun")]
    name = satyalancana_name(tingkat)
    if any(e.get("nama") == name for e in employee.histories["penghargaan"]):
        problems.append(Problem("outcome.tingkat", "penghargaan_exists",
                                f"{name} sudah tercatat"))
    given = _d(decree.outcome.get("keppres_tanggal")) or decree.date
    out.entries.append(("penghargaan", {
        "nama": name, "tanggal": given.isoformat(), "pemberi": "Presiden Republik Indonesia",
        "sk_nomor": decree.outcome.get("keppres_nomor") or decree.number,
        "sk_tanggal": given.isoformat()}))
    return problems


def _card(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "nomor_kartu")
    if not problems:
        out.changes[CARDS[decree.layanan]] = str(decree.outcome["nomor_kartu"]).strip()
    return problems


def _izin_belajar(employee, decree, out: Outcome) -> list[Problem]:
    problems = _need(decree, "education_id", "programme", "institution")
    if problems:
        return problems
    entry = {"education_id": decree.outcome["education_id"],
             "programme": decree.outcome["programme"],
             "institution": decree.outcome["institution"], **decree.sk}
    if decree.outcome.get("mulai"):
        entry["mulai"] = _d(decree.outcome["mulai"]).isoformat()
    out.entries.append(("izin_belajar", entry))
    return problems


#: golongan in which the ujian dinas is taken -> the tingkat it passes
UJIAN_DINAS_TINGKAT = {"II/d": "ujian_dinas_tingkat_i", "III/d": "ujian_dinas_tingkat_ii"}


def _ujian(employee, decree, out: Outcome) -> list[Problem]:
    passed = _d(decree.outcome.get("tanggal_lulus")) or decree.date
    entry = {"tanggal": passed.isoformat(), **decree.sk}
    if decree.layanan == "UJIAN_DINAS":
        golongan, _ = current_golongan(employee)
        if golongan not in UJIAN_DINAS_TINGKAT:
            return [Problem("golongan", "ujian_dinas_golongan",
                            f"ujian dinas ditempuh dari golongan II/d atau III/d; golongan "
                            f"sekarang {golongan}")]
        entry["jenis"] = UJIAN_DINAS_TINGKAT[golongan]
    elif decree.layanan == "UPKP":
        entry["jenis"] = "upkp"
        levels = [e["education_id"] for e in employee.histories["pendidikan"]]
        levels += [employee.data["education_id"]] if employee.data.get("education_id") else []
        if levels:
            entry["education_id"] = max(levels, key=lambda i: int(i) if i.isdigit() else 0)
    else:
        entry["jenis"] = "kp_pembina"
    out.entries.append(("ujian", entry))
    return []


RULES = {"KENAIKAN_PANGKAT": _kenaikan_pangkat, "KGB": _kgb, "MUTASI": _mutasi,
         "PINDAH_JAB_PELAKSANA": _pindah_jabatan, "PENSIUN": _pensiun, "CPNS_PNS": _cpns_pns,
         "SATYALANCANA": _satyalancana, "IZIN_BELAJAR": _izin_belajar,
         "UJIAN_DINAS": _ujian, "UPKP": _ujian, "UJIAN_KP_PEMBINA": _ujian,
         **{kode: _card for kode in CARDS}}


def changes_for(employee: domain.Employee, decree: Decree) -> Outcome:
    """What `decree` changes in the record, checked; RuleViolation names every problem."""
    rule = RULES.get(decree.layanan)
    if rule is None:
        raise RuleViolation([Problem("layanan", "layanan_without_outcome",
                                     f"layanan {decree.layanan!r} tidak mengubah data pegawai")])
    if decree.request_id in employee.outcomes:
        raise RuleViolation([Problem("request_id", "outcome_applied",
                                     f"hasil usulan {decree.request_id} sudah tercatat")])
    out = Outcome()
    problems = rule(employee, decree, out)
    if not problems and employee.data.get("status") == RETIRED:
        problems.append(Problem("status", "employee_retired",
                                "pegawai sudah pensiun: hasil layanan tidak dicatat"))
    for history, entry in out.entries if not problems else ():
        problems += domain.entry_problems(employee, history, entry)
    born = _d(employee.data.get("date_of_birth"))
    for name in ("tmt_pns", "tmt_pensiun"):
        value = _d(out.changes.get(name))
        if born and value and value <= born:
            problems.append(Problem(f"outcome.{name}", "date_before_birth",
                                    f"{name} sebelum tanggal lahir pegawai"))
    if problems:
        raise RuleViolation(problems)
    return out


def applied_event(decree: Decree, outcome: Outcome, entry_ids: list[str]) -> tuple[str, dict]:
    """The one event recording a decree's effect: what changed, and which request, decree and
    signed document changed it."""
    return ("LayananOutcomeApplied", {
        "request_id": decree.request_id, "layanan": decree.layanan,
        "decree_number": decree.number, "decree_date": decree.date.isoformat(),
        "output_sha256": decree.output_sha256, "document_id": decree.document_id,
        "changes": outcome.changes,
        "entries": [{"history": history, "entry_id": entry_id, "entry": entry}
                    for (history, entry), entry_id in zip(outcome.entries, entry_ids,
                                                          strict=True)]})


@dataclass(frozen=True)
class Replacement:
    """A re-issued decree as OutputReplaced v2 states it."""

    request_id: str
    layanan: str
    number: str
    date: date
    output_sha256: str
    document_id: str | None = None


def replacement_event(employee: domain.Employee,
                      replacement: Replacement) -> tuple[str, dict] | None:
    """The one event by which the entries a request's outcome added cite its re-issued decree
    (sk_nomor and sk_tanggal where they cited the first decree; a Keppres number stays), and
    the decree they cited before. None when there is nothing to move: no outcome of that
    request was applied (dead-lettered, or a layanan that changes nothing), or the record
    already cites this decree or replaced it since (a repeat, an old replacement again)."""
    applied = employee.outcomes.get(replacement.request_id)
    if applied is None:
        return None
    known = {applied.get("output_sha256")} | {d["output_sha256"]
                                              for d in applied.get("replaced", [])}
    if replacement.output_sha256 in known:
        return None
    previous = {"decree_number": applied["decree_number"],
                "decree_date": applied["decree_date"],
                "output_sha256": applied["output_sha256"],
                "document_id": applied.get("document_id")}
    moved = []
    for history, entries in employee.histories.items():
        for entry in entries:
            if entry.get("request_id") != replacement.request_id:
                continue
            changes = {"output_sha256": replacement.output_sha256,
                       "document_id": replacement.document_id}
            if entry.get("sk_nomor") == previous["decree_number"]:
                changes["sk_nomor"] = replacement.number
                if entry.get("sk_tanggal") == previous["decree_date"]:
                    changes["sk_tanggal"] = replacement.date.isoformat()
            moved.append({"history": history, "entry_id": entry["entry_id"],
                          "changes": changes})
    return ("LayananDecreeReplaced", {
        "request_id": replacement.request_id, "layanan": replacement.layanan,
        "decree_number": replacement.number, "decree_date": replacement.date.isoformat(),
        "output_sha256": replacement.output_sha256, "document_id": replacement.document_id,
        "previous": previous, "entries": moved})
