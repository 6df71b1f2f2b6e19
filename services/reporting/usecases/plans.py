"""Query shapes the reporting indexes serve (migration 005, docs/design/reporting.md "Search
performance"). An index serves an ORDER BY only if the query names its columns in its order,
with its directions and NULLS placements: the shapes live here so that a list and the index
cannot drift apart silently (tests/test_reporting_search_plans.py checks the plans).

The Daftar Urut Kepangkatan (PP 15/1979; shared/reference/reporting-lists.json): pangkat
(golongan, then its TMT), jabatan (eselon, then its TMT), masa kerja (TMT CPNS), latihan
jabatan, pendidikan, usia; NIP breaks the last ties (usecases/lists.py DUK_CRITERIA builds the
same default order from reporting-lists.json). `employees_duk` carries the instansi, OPD and
status, so the filters of a caller's scope are checked in the index while it is walked."""

from __future__ import annotations

#: the DUK order on the lists' rank columns (migration 002_lists)
DUK_ORDER = ("golongan_rank DESC NULLS LAST", "tmt_golongan ASC NULLS LAST",
             "eselon_rank DESC NULLS LAST", "tmt_jabatan ASC NULLS LAST",
             "tmt_cpns ASC NULLS LAST", "diklat_level DESC NULLS LAST",
             "education_rank DESC NULLS LAST", "date_of_birth ASC NULLS LAST", "nip ASC")
#: the same on the columns of migration 001 (a table without the rank columns): eselon by its
#: code in byte order (I.a first), education by its SIASN code (the higher, the higher level)
DUK_ORDER_WITHOUT_RANKS = ("golongan_rank DESC NULLS LAST", "tmt_golongan ASC NULLS LAST",
                           'eselon COLLATE "C" ASC NULLS LAST', "tmt_jabatan ASC NULLS LAST",
                           "tmt_cpns ASC NULLS LAST", "education_id DESC NULLS LAST",
                           "date_of_birth ASC NULLS LAST", "nip ASC")
RANK_COLUMNS = frozenset({"eselon_rank", "diklat_level", "education_rank"})


def duk_order(columns) -> str:
    """The ORDER BY that `employees_duk` serves on a table with these columns."""
    return ", ".join(DUK_ORDER if RANK_COLUMNS <= set(columns) else DUK_ORDER_WITHOUT_RANKS)


def duk_page_nips(columns) -> str:
    """The NIPs of one DUK page of an instansi, read from `employees_duk` alone (an index-only
    walk from the list's start, the filters checked in the index: a deep page costs its
    offset in index entries, not in table rows); join the rows of the page to them."""
    return ("SELECT nip FROM employees WHERE instansi = :instansi "  # noqa: S608 - fixed pieces only
            "AND status = ANY(CAST(:statuses AS text[])) "
            f"ORDER BY {duk_order(columns)} LIMIT :limit OFFSET :offset")
