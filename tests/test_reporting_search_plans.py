"""The plans the reporting indexes promise (migration 005, docs/design/reporting.md "Search
performance"): a search sorted by name reads its page's NIPs from `employees_name_cover` alone,
whatever the caller's scope and name part; a DUK page is an ordered walk of `employees_duk`
with no sort of the instansi. The planner is steered off the table scans a table this small
would get (on 500,000 rows it chooses these plans itself: bench/reporting.py)."""

from datetime import date

import psycopg2
import pytest
from sqlalchemy import create_engine, text

from services.reporting.usecases import plans, search
from shared.auth import Principal
from shared.contracts.reporting import EmployeeSearch

ROWS = """
INSERT INTO reporting.employees (nip, name, instansi, opd_id, status, gender, date_of_birth,
    education_id, golongan, golongan_rank, tmt_golongan, tmt_cpns, eselon, tmt_jabatan)
SELECT (190000000000000000::bigint + g)::text,
       (ARRAY['Siti','Budi','Agus'])[1 + g % 3] || ' ' || (ARRAY['Rahayu','Santoso'])[1 + g % 2],
       CASE WHEN g % 4 = 0 THEN '3507' ELSE '35' END,
       CASE WHEN g % 4 = 0 THEN '3507.unit-1' ELSE (ARRAY['dinkes','dindik','bkd'])[1 + g % 3] END,
       CASE WHEN g % 10 = 0 THEN 'Pensiun' ELSE 'PNS' END, 'L', date '1970-01-01' + g,
       '40', 'III/a', 1 + g % 17, date '2000-01-01' + g % 300, date '1995-01-01' + g % 50,
       CASE WHEN g % 7 = 0 THEN 'III.a' END, date '2010-01-01' + g % 90
  FROM generate_series(1, 3000) g
"""
STEERED = ("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
ADMIN = Principal("admin.bkd", frozenset({"administrator"}), frozenset())
FASILITATOR = Principal("fas.dinkes", frozenset({"fasilitator"}), frozenset({"dinkes", "bkd"}))


@pytest.fixture
def filled(own_database):
    conn = psycopg2.connect(own_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(ROWS)
        cur.execute("VACUUM ANALYZE reporting.employees")  # the visibility map: index-only
    conn.close()
    return own_database


class Explaining:
    """A unit of work that runs each statement and keeps the plan of the page's query."""

    def __init__(self, conn):
        self.conn, self.plan = conn, None

    def execute(self, statement, params=None):
        if "JOIN (SELECT nip" in statement:
            self.plan = "\n".join(row[0] for row in self.conn.execute(
                text("EXPLAIN " + statement), params or {}))
        return self.conn.execute(text(statement), params or {})


@pytest.mark.parametrize(("actor", "query"), [
    (ADMIN, {"name": "santoso", "sort": "name"}),
    (ADMIN, {"name": "santoso", "sort": "-name", "offset": 40}),
    (FASILITATOR, {"sort": "name"}),
    (FASILITATOR, {"name": "rahayu", "sort": "name"}),
])
def test_a_search_sorted_by_name_reads_its_page_from_the_covering_index(filled, actor, query):
    engine = create_engine(filled.replace("postgresql://", "postgresql+psycopg2://"),
                           connect_args={"options": "-c search_path=reporting,public"})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(STEERED)
            uow = Explaining(conn)
            page = search.find(uow, actor, EmployeeSearch().load(query), date(2026, 12, 6))
    finally:
        engine.dispose()
    assert "Index Only Scan" in uow.plan and "employees_name_cover" in uow.plan, uow.plan
    # and the page is the one the filters give, in the order asked for
    names = [(item["name"].lower(), item["nip"]) for item in page["items"]]
    assert names == sorted(names, reverse=query["sort"].startswith("-")) and len(names) == 25
    assert all(query.get("name", "") in name for name, _ in names)
    if actor is FASILITATOR:
        assert {item["opd_id"] for item in page["items"]} <= {"dinkes", "bkd"}
        assert {item["instansi"] for item in page["items"]} == {"35"}


def test_a_duk_page_walks_the_duk_index_without_sorting_the_instansi(filled):
    conn = psycopg2.connect(filled)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'reporting' AND table_name = 'employees'")
            columns = {row[0] for row in cur.fetchall()}
            cur.execute("SET search_path = reporting, public; " + STEERED)
            statement = plans.duk_page_nips(columns).replace(":instansi", "%(instansi)s") \
                .replace(":statuses", "%(statuses)s").replace(":limit", "%(limit)s") \
                .replace(":offset", "%(offset)s")
            params = {"instansi": "35", "statuses": ["PNS", "CPNS"], "limit": 50, "offset": 100}
            cur.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cur.fetchall())
            cur.execute(statement, params)
            nips = [row[0] for row in cur.fetchall()]
            # the same page computed here from the rows, in the regulation's order
            ranked = plans.RANK_COLUMNS <= columns
            cur.execute("SELECT nip, golongan_rank, tmt_golongan, "
                        + ("eselon_rank, tmt_jabatan, tmt_cpns, diklat_level, education_rank, "
                           if ranked else "eselon, tmt_jabatan, tmt_cpns, education_id, ")
                        + "date_of_birth FROM employees WHERE instansi = '35' "
                        "AND status IN ('PNS', 'CPNS')")
            rows = cur.fetchall()
    finally:
        conn.close()
    assert "Index Only Scan using employees_duk" in plan and "Sort" not in plan, plan

    def asc(value):  # ASC NULLS LAST
        return (value is None, value if value is not None else 0)

    def desc(value):  # DESC NULLS LAST, for numbers
        return (value is None, -value if value is not None else 0)

    def key(row):
        if ranked:
            nip, rank, tmt_gol, eselon, tmt_jab, tmt_cpns, diklat, education, born = row
            return (desc(rank), asc(tmt_gol), desc(eselon), asc(tmt_jab), asc(tmt_cpns),
                    desc(diklat), desc(education), asc(born), nip)
        nip, rank, tmt_gol, eselon, tmt_jab, tmt_cpns, education, born = row
        return (desc(rank), asc(tmt_gol), asc(eselon), asc(tmt_jab), asc(tmt_cpns),
                desc(int(education) if education else None), asc(born), nip)

    assert nips == [row[0] for row in sorted(rows, key=key)][100:150]
