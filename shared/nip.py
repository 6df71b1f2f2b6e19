"""The NIP (Nomor Induk Pegawai) as the national rules define it (reference-data.json
`nomor_identitas`; Perka BKN 22/2007), in plain Python: 18 digits, birth date yyyymmdd, TMT CPNS
yyyymm, gender digit (1 male, 2 female), sequence 001-999; for PPPK digits 9-12 are the
appointment year and 13-14 a code, not a month. Shared because two services check NIPs: records
(every registration, the bulk import) and sync (every row of a region's snapshot); each check
answers with problems naming the field, never a bare "invalid"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MALE, FEMALE = "L", "P"  # jenis kelamin as SIASN writes it
PNS, CPNS, PPPK = "PNS", "CPNS", "PPPK"


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class NipParts:
    birth_date: date
    appointed_year: int
    appointed_month: int | None
    gender: str
    sequence: int


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_nip(nip: str, status: str = PNS) -> tuple[NipParts | None, list[Problem]]:
    """The parts of a NIP, or the reasons it is not one."""
    if not isinstance(nip, str) or len(nip) != 18 or not nip.isdigit():
        return None, [Problem("nip", "nip_format", "NIP harus 18 digit angka")]
    problems = []
    born = _date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    if born is None:
        problems.append(Problem("nip", "nip_birth_date",
                                f"digit 1-8 NIP ({nip[0:8]}) bukan tanggal lahir yang sah"))
    year, code = int(nip[8:12]), int(nip[12:14])
    month = None
    if status == PPPK:
        if code <= 12:
            problems.append(Problem("nip", "nip_pppk_code",
                                    "digit 13-14 NI PPPK adalah kode PPPK (di atas 12)"))
    elif 1 <= code <= 12:
        month = code
    else:
        problems.append(Problem("nip", "nip_tmt_month",
                                f"digit 13-14 NIP ({nip[12:14]}) harus bulan TMT CPNS 01-12"))
    if nip[14] not in "12":
        problems.append(Problem("nip", "nip_gender",
                                "digit 15 NIP harus 1 (laki-laki) atau 2 (perempuan)"))
    if nip[15:18] == "000":
        problems.append(Problem("nip", "nip_sequence", "nomor urut NIP (digit 16-18) 001-999"))
    if problems:
        return None, problems
    return NipParts(born, year, month, MALE if nip[14] == "1" else FEMALE, int(nip[15:18])), []


def nip_problems(nip: str, *, date_of_birth: date | None = None, gender: str | None = None,
                 tmt_cpns: date | None = None, status: str = PNS, today: date | None = None,
                 min_age_at_tmt: int = 18) -> list[Problem]:
    """Structure of the NIP and its agreement with the record's birth date, gender, TMT CPNS."""
    parts, problems = parse_nip(nip, status)
    if parts is None:
        return problems
    today = today or date.today()
    if date_of_birth is not None and parts.birth_date != date_of_birth:
        problems.append(Problem("date_of_birth", "nip_mismatch_birth_date",
                                f"tanggal lahir {date_of_birth.isoformat()} tidak sama dengan "
                                f"NIP ({parts.birth_date.isoformat()})"))
    if gender is not None and parts.gender != gender:
        problems.append(Problem("gender", "nip_mismatch_gender",
                                "jenis kelamin tidak sama dengan digit 15 NIP"))
    if parts.appointed_month is not None:
        appointed = date(parts.appointed_year, parts.appointed_month, 1)
        if appointed > today:
            problems.append(Problem("nip", "nip_tmt_future", "TMT CPNS pada NIP di masa depan"))
        adult = _add_years(parts.birth_date, min_age_at_tmt)
        if (appointed.year, appointed.month) < (adult.year, adult.month):
            problems.append(Problem("nip", "nip_tmt_too_young",
                                    f"TMT CPNS pada NIP sebelum usia {min_age_at_tmt} tahun"))
        if tmt_cpns is not None and (tmt_cpns.year, tmt_cpns.month) != (
                appointed.year, appointed.month):
            problems.append(Problem("tmt_cpns", "nip_mismatch_tmt_cpns",
                                    f"TMT CPNS {tmt_cpns.isoformat()} tidak sama dengan bulan "
                                    f"TMT pada NIP ({appointed.year}-{appointed.month:02d})"))
    return problems


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
