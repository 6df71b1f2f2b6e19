"""Charts of statistics and trends (services/reporting/charts.py), plain Python: a trend's
report rows (first column a date) drawn as lines whose points stand where the figures say, in
SVG, PNG and the streamed PDF; Indonesian numbers; what cannot be drawn is refused."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zlib
from datetime import date

import pytest
from PIL import Image

from services.reporting import charts, formats
from services.reporting.usecases.reports import Column

SVG = "{http://www.w3.org/2000/svg}"
TREND = [Column("month", "Bulan", "date"), Column("dinkes", "Dinas Kesehatan", "percent"),
         Column("dindik", "Dinas Pendidikan", "percent")]
ROWS = [(date(2026, m, 1), 40.0 + 5 * m, None if m == 4 else 20.0 + 7 * m) for m in range(1, 9)]


def test_a_trend_is_drawn_as_lines_through_its_figures():
    chart = charts.from_report("Kelengkapan data per bulan", TREND, ROWS)
    assert chart.kind == "line" and chart.y_title == "Persen"
    assert chart.categories[0] == "2026-01-01"
    root = ET.fromstring(charts.svg(chart))
    lines = [p.get("points") for p in root.iter(SVG + "polyline")]
    assert len(lines) == 2
    for points, column in zip(lines, (1, 2), strict=True):
        ys = [float(pair.split(",")[1]) for pair in points.split()]
        figures = [row[column] for row in ROWS if row[column] is not None]
        assert len(ys) == len(figures)  # a missing figure is no point, not a zero
        # y falls as the figure grows, in proportion: (y0 - y) / (f - f0) is one scale (the
        # SVG's coordinates have one decimal)
        scales = [(ys[0] - y) / (f - figures[0])
                  for y, f in zip(ys[1:], figures[1:], strict=True)]
        assert min(scales) > 0 and max(scales) - min(scales) < 0.03
    texts = [t.text for t in root.iter(SVG + "text")]
    assert {"Dinas Kesehatan", "Dinas Pendidikan", "Kelengkapan data per bulan"} <= set(texts)
    png = charts.png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        image.verify()


def test_a_statistics_pdf_opens_with_its_chart():
    columns = [Column("golongan", "Golongan"), Column("jumlah", "Jumlah", "int")]
    rows = [("III/a", 1250), ("III/b", 980), ("IV/a", 12)]
    chart = charts.from_report("Jumlah pegawai per golongan", columns, rows)
    out = io.BytesIO()
    formats.write("pdf", formats.Sheet("Jumlah pegawai per golongan", columns, [], chart),
                  iter(rows), out)
    data = out.getvalue()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    pages = [zlib.decompress(s) for s in re.findall(rb"stream\n(.*?)\nendstream", data, re.S)]
    assert len(pages) == 2  # the chart, then the table
    assert b"(1.250) Tj" in pages[0] and b" re f" in pages[0]  # its bars and figures
    assert b"(1250) Tj" in pages[1] and b"(Jumlah baris: 3) Tj" in pages[1]
    for page in pages:
        assert text_colours(page) == {(0.0, 0.0, 0.0)}, "every text drawn in black"


def text_colours(content: bytes) -> set[tuple]:
    """The fill colour in force at each text drawn (PDF graphics state: q/Q save and restore;
    `r g b rg` sets the fill, which text is painted with)."""
    stack, fill, seen = [], (0.0, 0.0, 0.0), set()
    tokens = re.findall(rb"\((?:\\.|[^\\)])*\)|[^\s]+", content)
    for index, token in enumerate(tokens):
        if token == b"q":
            stack.append(fill)
        elif token == b"Q":
            fill = stack.pop()
        elif token == b"rg":
            fill = tuple(float(t) for t in tokens[index - 3:index])
        elif token == b"Tj":
            seen.add(fill)
    return seen


def test_numbers_read_the_indonesian_way_and_what_cannot_be_drawn_is_refused():
    assert charts.number(1234567) == "1.234.567" and charts.number(12.5) == "12,5"
    with pytest.raises(ValueError, match="kolom angka"):
        charts.from_report("x", [Column("nip", "NIP"), Column("name", "Nama")], [])
    with pytest.raises(ValueError, match="terlalu banyak"):
        charts.from_report("x", [Column("k", "K"), Column("n", "N", "int")],
                           [(str(i), i) for i in range(charts.MAX_CATEGORIES + 1)])


def test_a_report_says_how_it_is_drawn():
    """The trend: a line per OPD over the days; a forecast per year and OPD: a bar per year,
    the OPDs added up; too many series is refused with a reason."""
    from services.reporting.charts import ChartSpec, from_report

    columns = [Column("day", "Tanggal", "date"), Column("opd_name", "OPD"),
               Column("percent", "% kelengkapan", "percent")]
    rows = [(date(2026, 12, d), opd, value) for d in (1, 2, 3)
            for opd, value in (("Dinas Kesehatan", 50.0 + d), ("Dinas Pendidikan", 70.0))]
    chart = from_report("Tren", columns, rows,
                        ChartSpec(("day",), ("percent",), series_by="opd_name", kind="line"))
    assert chart.kind == "line" and chart.y_title == "Persen"
    assert chart.categories == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert chart.series == [("Dinas Kesehatan", [51.0, 52.0, 53.0]),
                            ("Dinas Pendidikan", [70.0, 70.0, 70.0])]

    columns = [Column("year", "Tahun", "int"), Column("opd_id", "OPD"),
               Column("count", "Jumlah pensiun", "int")]
    rows = [(2027, "dinkes", 3), (2027, "dindik", 4), (2028, "dinkes", 1)]
    chart = from_report("Proyeksi", columns, rows, ChartSpec(("year",), ("count",)))
    assert chart.categories == ["2027", "2028"]
    assert chart.series == [("Jumlah pensiun", [7.0, 1.0])]

    many = [(2027, f"opd-{n}", 1) for n in range(9)]
    with pytest.raises(ValueError, match="terlalu banyak seri"):
        from_report("Proyeksi", columns, many, ChartSpec(("year",), ("count",), "opd_id"))
