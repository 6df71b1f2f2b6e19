"""Public statistics (issue 15 part 6, penyebarluasan data): headcounts any visitor may see
without login — by instansi, golongan, education, gender and age band — never a NIP or a name.

Each table is one dimension over every active employee of the province and its kabupaten/kota,
with the grand total. A cell with fewer than `threshold` persons (but more than none) is hidden
(primary suppression). A table with exactly one hidden cell would give it away as the total
minus the others, so the smallest cell still shown is hidden with it (complementary
suppression); when nothing is left to hide with it, the total is hidden too. Tables share no
cell, only the grand total, so no hidden cell follows from another table either."""

from __future__ import annotations

from datetime import UTC, datetime

from services.reporting import domain
from services.reporting.usecases import lists, reports
from services.reporting.usecases.reports import Column
from shared.calendar import today_wib
from shared.contracts.reporting import PublicStatisticsQuery
from shared.reference import instansi, reporting_lists

NAME = "public_statistics"
DIMENSIONS = ("instansi", "golongan", "education_id", "gender", "age_band")
_GENDER = {"L": "Laki-laki", "P": "Perempuan"}


def _label(dimension: str, value) -> str | None:
    if value is None:
        return "Tidak tercatat"
    if dimension == "instansi":
        return instansi().get(value, {}).get("name", value)
    if dimension == "education_id":
        return domain.education_levels().get(value, value)
    if dimension == "gender":
        return _GENDER.get(value, value)
    return value


def suppress(counts: list[int], threshold: int) -> tuple[list[bool], bool]:
    """Which cells to hide, and whether the total is hidden too: every cell of 1..threshold-1
    persons, then, while exactly one is hidden, the smallest one shown beside it."""
    total = sum(counts)
    if total < threshold:
        return [True] * len(counts), True
    hidden = [0 < n < threshold for n in counts]
    if sum(hidden) == 1:
        shown = [i for i, h in enumerate(hidden) if not h and counts[i] > 0]
        if shown:
            hidden[min(shown, key=lambda i: (counts[i], i))] = True
        else:
            return hidden, True
    return hidden, False


def tables(uow, min_cell: int, today=None) -> list[dict]:
    """Every public table, suppressed (see the module's docstring)."""
    today = today or today_wib()
    out = []
    for dimension in DIMENSIONS:
        binds: dict = {}
        expr = lists.dimension_sql(dimension, today, binds)
        with uow.dbapi.cursor() as cur:
            cur.execute(f"SELECT {expr}, count(*) FROM {uow.store.schema}.employees "  # noqa: S608 - fixed pieces only
                        "WHERE status IS DISTINCT FROM 'Pensiun' GROUP BY 1", binds)
            rows = sorted(cur.fetchall(), key=lambda r: lists.dimension_order(dimension)(r[0]))
        counts = [n for _, n in rows]
        hidden, total_hidden = suppress(counts, min_cell)
        out.append({"dimension": dimension, "total": None if total_hidden else sum(counts),
                    "cells": [{"value": value, "label": _label(dimension, value),
                               "count": None if h else n, "suppressed": h}
                              for (value, n), h in zip(rows, hidden, strict=True)]})
    return out


def threshold() -> int:
    """The smallest cell shown (reporting-lists.json public_statistics.min_cell, at least 2)."""
    return max(2, int(reporting_lists()["public_statistics"]["min_cell"]))


def statistics(uow, min_cell: int) -> dict:
    return {"threshold": min_cell, "tables": tables(uow, min_cell),
            "generated_at": datetime.now(UTC).isoformat()}


# the same figures through the registry (charts and exports of the public page)

def public_columns(params: dict) -> list[Column]:
    return [Column("dimension", "Rincian"), Column("value", "Kode"), Column("label", "Uraian"),
            Column("count", "Jumlah", "int")]


def public_rows(uow, actor, params: dict, today=None):
    for table in tables(uow, threshold(), today):
        for cell in table["cells"]:
            yield table["dimension"], cell["value"], cell["label"], cell["count"]
        yield table["dimension"], None, "Jumlah", table["total"]


reports.register(reports.Report(
    name=NAME, title="Statistik ASN Jawa Timur (publik)", personal=False,
    official=False, params=PublicStatisticsQuery, columns=public_columns, rows=public_rows))
