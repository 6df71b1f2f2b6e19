"""Reference data loaded from versioned data files (never hard-coded in rules).

`opd.json`, `instansi.json` (the province and the 38 kabupaten/kota) and `reference-data.json`
(golongan, kab/kota, layanan, ...; a copy of the domain research file, versioned with the code)
live here; SIMASN_REFERENCE_DATA may point elsewhere."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@cache
def opds() -> dict[str, str]:
    """OPD code -> name."""
    data = json.loads((HERE / "opd.json").read_text(encoding="utf-8"))
    return {row["code"]: row["name"] for row in data["opd"]}


#: the instansi code of the Pemerintah Provinsi Jawa Timur (a kab/kota's is its 4-digit BPS code)
PROVINCE = "35"


@cache
def instansi() -> dict[str, dict]:
    """Instansi code -> {"name", "short", "jenis"}: the province ("35") and the 38 kabupaten/
    kota by their BPS code ("3501".."3579", as in a NIK and in identity's `kabkota_code`)."""
    data = json.loads((HERE / "instansi.json").read_text(encoding="utf-8"))
    return {row["code"]: row for row in data["instansi"]}


def opd_version() -> str:
    return json.loads((HERE / "opd.json").read_text(encoding="utf-8"))["_meta"]["version"]


@cache
def domain_data() -> dict:
    """The provincial reference data (golongan, kab/kota, layanan, ...)."""
    path = Path(os.environ.get("SIMASN_REFERENCE_DATA") or HERE / "reference-data.json")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def document_slots() -> dict[str, dict]:
    """Document slot code -> {"nama", "confidential"} (a versioned, editable data file)."""
    data = json.loads((HERE / "document-slots.json").read_text(encoding="utf-8"))
    return {row["code"]: row for row in data["slots"]}


@cache
def layanan_catalogue() -> dict:
    """The 18 layanan kepegawaian as versioned, editable data: eligibility rules with their
    parameters, required documents, output, SLA, SOP (the requests service's seed)."""
    return json.loads((HERE / "layanan.json").read_text(encoding="utf-8"))


@cache
def output_documents() -> dict:
    """The output documents the signing service renders (one per layanan, plus documents
    other services ask for): title, wording, fields, classification code, number format."""
    return json.loads((HERE / "output-documents.json").read_text(encoding="utf-8"))


@cache
def reporting_lists() -> dict:
    """Editable rules of BKD's lists (DUK order, latihan jabatan levels, KP/KGB periods,
    retirement horizon): shared/reference/reporting-lists.json."""
    return json.loads((HERE / "reporting-lists.json").read_text(encoding="utf-8"))


def completeness_config() -> dict:
    """What an employee's record must hold for monev (base fields and documents per status,
    the layanan an employee will soon need, layanan document -> record slot): editable data,
    checked by services/reporting/monev.py when loaded."""
    return json.loads((HERE / "completeness.json").read_text(encoding="utf-8"))
