"""Plain career-date rules more than one service needs (requests judges eligibility with them,
reporting forecasts retirements and lists who is due): date arithmetic, the kenaikan pangkat
periods, the retirement age (BUP) of a jabatan and the day a KGB falls due. No I/O beyond the
reference data; services import this module, never each other."""

from __future__ import annotations

from datetime import date
from functools import cache

from shared.reference import domain_data


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months; a day the target month lacks becomes its last day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def kp_periods(year: int) -> list[date]:
    """The kenaikan pangkat periods of `year` (Peraturan BKN 4/2023: 1 Feb, Apr, Jun, Aug, Oct,
    Dec), from the reference data."""
    out = []
    for mm_dd in domain_data()["kp_periode"]["tanggal"]:
        month, day = (int(x) for x in mm_dd.split("-"))
        out.append(date(year, month, day))
    return sorted(out)


def next_kp_period(today: date) -> date:
    """The first kenaikan pangkat period on or after `today` (Peraturan BKN 4/2023)."""
    for year in (today.year, today.year + 1):
        for period in kp_periods(year):
            if period >= today:
                return period
    raise ValueError(today)


@cache
def _bup_rules() -> dict[str, dict]:
    return {r["jabatan"]: r for r in domain_data()["bup"]["rules"]}


def bup_age_of(jenis_jabatan: str | None, nama_jabatan: str | None,
               eselon: str | None) -> tuple[int, str]:
    """Retirement age (BUP) for a jabatan (its kind, name and eselon), with its legal basis."""
    rules = _bup_rules()
    name = str(nama_jabatan or "").lower()
    if jenis_jabatan == "fungsional":
        for needle, key in (("guru", "JF Guru"), ("dosen", "JF Dosen"),
                            ("ahli utama", "Fungsional Ahli Utama"),
                            ("ahli madya", "Fungsional Ahli Madya"),
                            ("ahli muda", "Fungsional Ahli Muda"),
                            ("ahli pertama", "Fungsional Ahli Pertama")):
            if needle in name:
                return rules[key]["usia"], rules[key]["dasar"]
        key = "Fungsional Keterampilan (pemula/terampil/mahir/penyelia)"
        return rules[key]["usia"], rules[key]["dasar"]
    level = str(eselon or "")
    if jenis_jabatan == "struktural" and level.startswith(("I.", "II.")):
        key = "JPT Utama / Madya / Pratama"
    elif jenis_jabatan == "struktural" and level.startswith("III."):
        key = "Administrator"
    elif jenis_jabatan == "struktural" and level.startswith("IV."):
        key = "Pengawas"
    else:
        key = "Pelaksana"
    return rules[key]["usia"], rules[key]["dasar"]


def retirement_day(born: date, bup_age: int) -> date:
    """TMT pensiun: the first day of the month after the month the employee reaches BUP."""
    reached = add_years(born, bup_age)
    return add_months(date(reached.year, reached.month, 1), 1)


def kgb_due_day(last_kgb: date | None, rank_since: date | None, years: int) -> date | None:
    """The TMT of the next KGB: `years` after the later of the last KGB and the pangkat TMT
    (None when neither is known)."""
    starts = [d for d in (last_kgb, rank_since) if d is not None]
    return add_years(max(starts), years) if starts else None
