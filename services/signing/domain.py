"""Domain rules of the signing service: plain Python, no Nameko, SQLAlchemy or marshmallow.

What an output document says (its fields, taken from the employee's record at approval time),
how its number is formed, and what a verification answer means."""

from __future__ import annotations

import datetime as dt

from shared.reference import domain_data, opds, output_documents

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")

FIELD_LABELS = {
    "nama_lengkap": "Nama", "nip": "NIP", "tempat_tanggal_lahir": "Tempat, tanggal lahir",
    "pangkat_golongan": "Pangkat / golongan ruang", "unit": "Unit kerja",
    "opd_id": "Perangkat daerah", "tmt_cpns": "TMT CPNS", "tmt_pns": "TMT PNS",
    "status": "Status kepegawaian", "wilayah": "Kabupaten/kota", "tahun": "Tahun",
    "jumlah_cocok": "Data cocok", "jumlah_selisih": "Data berselisih",
    "rapat_tanggal": "Tanggal rapat", "rapat_tempat": "Tempat rapat",
    # an official list exported by reporting (DAFTAR_RESMI)
    "judul": "Daftar", "filter": "Filter", "jumlah_baris": "Jumlah baris",
    "sha256_daftar": "SHA-256 daftar lengkap",
    "revisi": "Revisi", "jumlah_layanan": "Layanan dievaluasi", "jumlah_usulan": "Jumlah usulan",
    "jumlah_disetujui": "Disetujui", "jumlah_melewati_sla": "Melewati SLA",
    # an integrity pact signed by a fasilitator or an administrator (PAKTA_INTEGRITAS)
    "nama": "Nama", "akun": "Nama pengguna", "peran": "Peran", "lingkup_opd": "Lingkup OPD",
    "tanggal": "Tanggal",
}


class UnknownOutput(KeyError):
    """No template for this output document (a catalogue entry without one)."""


def template_for(key: str) -> dict:
    """The template of a layanan code (or another document key such as TEGURAN_TERTULIS)."""
    try:
        return {**output_documents()["documents"][key], "key": key}
    except KeyError:
        raise UnknownOutput(key) from None


def template_problems() -> list[str]:
    """What is wrong with the editable templates: two document types printing numbers from the
    same classification would each count from 1 and print the same number twice."""
    problems, seen = [], {}
    for key, template in output_documents()["documents"].items():
        for field in ("type", "kind", "klasifikasi", "title", "body", "fields", "closing"):
            if field not in template:
                problems.append(f"{key}: {field} tidak ada")
        owner = seen.setdefault(template.get("klasifikasi"), template.get("type"))
        if owner != template.get("type"):
            problems.append(f"{key}: klasifikasi {template.get('klasifikasi')} sudah dipakai "
                            f"jenis {owner}; nomor akan kembar")
    return problems


def document_types() -> list[str]:
    return sorted({t["type"] for t in output_documents()["documents"].values()})


def tanggal(value) -> str:
    """A date as Indonesian letters write it: 1 Desember 2026."""
    if value in (None, ""):
        return "-"
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _pangkat(golongan: str | None) -> str:
    if not golongan:
        return "-"
    for row in domain_data()["golongan_pns"]:
        if row["gol_ruang"] == golongan:
            return f"{row['pangkat']}, {golongan}"
    return golongan


def context_for(template: dict, record: dict | None, extra: dict) -> dict:
    """The values a template's fields and paragraphs may name: the employee's record (as it
    was at approval), the request's options as `opsi_<name>`, and `extra` as given."""
    values = {key: "-" for key in FIELD_LABELS}
    if record:
        name = " ".join(p for p in (record.get("gelar_depan"), record.get("name")) if p)
        if record.get("gelar_belakang"):
            name = f"{name}, {record['gelar_belakang']}"
        values.update({
            "nama_lengkap": name, "nip": record.get("nip") or "-",
            "tempat_tanggal_lahir": f"{record.get('birth_place') or '-'}, "
                                    f"{tanggal(record.get('date_of_birth'))}",
            "pangkat_golongan": _pangkat(record.get("golongan")),
            "unit": record.get("unit") or "-",
            "opd_id": opds().get(record.get("opd_id"), record.get("opd_id") or "-"),
            "tmt_cpns": tanggal(record.get("tmt_cpns")), "tmt_pns": tanggal(record.get("tmt_pns")),
            "status": record.get("status") or "-"})
    for key, value in (extra.get("options") or {}).items():
        values[f"opsi_{key}"] = str(value).replace("_", " ")
    values.update({k: str(v) for k, v in extra.items() if k != "options"})
    return values


class _Blank(dict):
    def __missing__(self, key):
        return "-"


def fill(text: str, values: dict) -> str:
    return text.format_map(_Blank(values))


def document_number(template: dict, seq: int, year: int) -> str:
    """The number printed on the document: per type and year, from a sequence that never
    repeats or skips (the sequence lives in the database, this only formats it)."""
    fmt = output_documents()["_meta"]["number_format"]
    return fmt.format(klasifikasi=template["klasifikasi"], seq=seq, year=year)


def letterhead() -> list[str]:
    return list(output_documents()["_meta"]["letterhead"])
