"""Writing a report's rows to a file in CSV, XLSX or PDF, one row at a time: plain Python (no
Nameko, no database), memory flat whatever the number of rows.

- CSV: the csv module, UTF-8 with a byte-order mark (Excel opens it as UTF-8), the column
  titles as the first line; dates ISO, empty cells for missing values.
- XLSX: openpyxl's write-only workbook (rows go to a temporary file as they come); the list on
  sheet "Data", what was exported (report, filters, who, why, when, rows) on sheet "Keterangan".
- PDF: written here object by object straight to the file (`PdfWriter`): reportlab's canvas
  keeps every page of a document in memory until it is saved, which for a 100,000-row list is
  thousands of pages; this writer holds only the current page and the offsets of the objects
  written (two integers a page). Landscape A4, the heading and column titles repeated on every
  page, cells cut to their width with an ellipsis; a statistic's chart (charts.py) on its own
  page before the table. Text in the PDF's standard Helvetica (WinAnsi: every letter of
  Bahasa Indonesia; anything else becomes "?")."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from reportlab.pdfbase.pdfmetrics import stringWidth

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FORMATS = tuple(CONTENT_TYPES)


@dataclass(frozen=True)
class Sheet:
    """What is written: the report's title, its columns (reports.Column), the lines that say
    what was exported (filters, who, why, when) and, for a statistic's PDF, its chart."""

    title: str
    columns: list
    notes: list[str] = field(default_factory=list)
    chart: object | None = None  # charts.Chart
    footer: str = ""


def cell(value) -> object:
    """A value as the files hold it: dates ISO, the rest as is (None stays empty)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class Counter:
    """Counts the rows it passes on (the export records how many it wrote) and, when the
    report has a NIP column, hands each NIP to `on_nip` (the disclosed set)."""

    def __init__(self, rows: Iterable[tuple], nip_index: int | None = None, on_nip=None):
        self.rows, self.count, self.nip_index, self.on_nip = rows, 0, nip_index, on_nip

    def __iter__(self) -> Iterator[tuple]:
        for row in self.rows:
            self.count += 1
            if self.nip_index is not None and self.on_nip is not None:
                self.on_nip(row[self.nip_index])
            yield row


def write(fmt: str, sheet: Sheet, rows: Iterable[tuple], out) -> None:
    """Write `rows` (tuples in the order of `sheet.columns`) to the binary file `out`."""
    {"csv": write_csv, "xlsx": write_xlsx, "pdf": write_pdf}[fmt](sheet, rows, out)


def write_csv(sheet: Sheet, rows: Iterable[tuple], out) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
    writer = csv.writer(text)
    writer.writerow([c.title for c in sheet.columns])
    for row in rows:
        writer.writerow(["" if v is None else cell(v) for v in row])
    text.flush()
    text.detach()  # `out` stays open: the caller hashes and stores it


def write_xlsx(sheet: Sheet, rows: Iterable[tuple], out) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    data = book.create_sheet("Data")
    bold = Font(bold=True)
    header = []
    for column in sheet.columns:
        heading = WriteOnlyCell(data, value=column.title)
        heading.font = bold
        header.append(heading)
    data.append(header)
    for row in rows:
        data.append([cell(v) for v in row])
    notes = book.create_sheet("Keterangan")
    notes.append([sheet.title])
    for line in sheet.notes:
        notes.append([line])
    if sheet.footer:
        notes.append([sheet.footer])
    book.save(out)


# -- PDF, streamed -------------------------------------------------------------------------------

PAGE_W, PAGE_H = 842.0, 595.0  # A4 landscape, points
MARGIN = 28.0
FONT_SIZE = 6.5
ROW_H = 9.5
TITLE_SIZE = 11


@functools.lru_cache(maxsize=8192)  # lists repeat their values (status, OPD, golongan...)
def _pdf_text(value: str) -> bytes:
    """A PDF string literal in WinAnsi, its delimiters escaped."""
    raw = value.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") \
        .replace(b"\r", b" ").replace(b"\n", b" ") + b")"


@functools.lru_cache(maxsize=8192)
def fit(text: str, width: float, size: float = FONT_SIZE, font: str = "Helvetica") -> str:
    """`text` cut to `width` points, an ellipsis marking the cut."""
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        mid = (low + high + 1) // 2
        if stringWidth(text[:mid] + "\u2026", font, size) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "\u2026"


class PdfWriter:
    """A PDF written object by object to a binary file: pages are content streams appended as
    they are finished; the page tree and cross-reference table come at the end from the
    offsets kept (a few bytes a page)."""

    # object numbers fixed up front: 1 catalog, 2 page tree, 3 and 4 the fonts, 5 info
    CATALOG, PAGES, FONT, BOLD, INFO = 1, 2, 3, 4, 5

    def __init__(self, out, title: str):
        self.out, self.offsets, self.pages, self.title = out, {}, [], title
        self.next_id = 6
        self.written = 0
        self._raw(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(self.FONT, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                                b"/Encoding /WinAnsiEncoding >>")
        self._object(self.BOLD, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
                                b"/Encoding /WinAnsiEncoding >>")

    def _raw(self, data: bytes) -> None:
        self.out.write(data)
        self.written += len(data)

    def _object(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.written
        self._raw(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def page(self, content: bytes) -> None:
        """One finished page (its drawing operators), written at once and forgotten."""
        stream, page = self.next_id, self.next_id + 1
        self.next_id += 2
        packed = zlib.compress(content, 6)
        self._object(stream, b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
                     + packed + b"\nendstream")
        self._object(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources "
                           b"<< /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
                     % (PAGE_W, PAGE_H, stream))
        self.pages.append(page)

    def close(self) -> None:
        kids = b" ".join(b"%d 0 R" % p for p in self.pages)
        self._object(self.PAGES, b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>"
                     % len(self.pages))
        self._object(self.CATALOG, b"<< /Type /Catalog /Pages 2 0 R >>")
        self._object(self.INFO, b"<< /Title " + _pdf_text(self.title) + b" /Producer "
                     b"(SIMASN Jatim) /Creator (SIMASN Jatim pelaporan) >>")
        start = self.written
        count = self.next_id
        lines = [b"xref\n0 %d\n" % count, b"0000000000 65535 f \n"]
        for number in range(1, count):
            lines.append(b"%010d 00000 n \n" % self.offsets[number])
        self._raw(b"".join(lines))
        self._raw(b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (count, start))


class Page:
    """The drawing operators of one page (PDF coordinates: origin bottom left). Every
    coloured shape is drawn inside q...Q, so text is always black."""

    def __init__(self):
        self.ops: list[bytes] = []

    def text(self, x: float, y: float, value: str, size: float = FONT_SIZE,
             bold: bool = False, align: str = "left") -> None:
        font = "Helvetica-Bold" if bold else "Helvetica"
        if align != "left":
            width = stringWidth(value, font, size)
            x -= width if align == "right" else width / 2
        self.ops.append(b"BT /%s %.2f Tf %.2f %.2f Td %s Tj ET" % (
            b"F2" if bold else b"F1", size, x, y, _pdf_text(value)))

    def rect(self, x: float, y: float, w: float, h: float, fill: tuple | None = None,
             stroke: bool = True) -> None:
        if fill is not None:
            self.ops.append(b"q %.3f %.3f %.3f rg %.2f %.2f %.2f %.2f re f Q" % (*fill, x, y, w, h))
        if stroke:
            self.ops.append(b"q 0 0 0 RG 0.4 w %.2f %.2f %.2f %.2f re S Q" % (x, y, w, h))

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.4,
             color: tuple = (0, 0, 0)) -> None:
        self.ops.append(b"q %.3f %.3f %.3f RG %.2f w %.2f %.2f m %.2f %.2f l S Q" % (
            *color, width, x1, y1, x2, y2))

    def polyline(self, points: list[tuple[float, float]], width: float, color: tuple) -> None:
        if len(points) < 2:
            return
        path = b" ".join(b"%.2f %.2f %s" % (x, y, b"m" if i == 0 else b"l")
                         for i, (x, y) in enumerate(points))
        self.ops.append(b"q %.3f %.3f %.3f RG %.2f w " % (*color, width) + path + b" S Q")

    def bytes(self) -> bytes:
        return b"\n".join(self.ops)


def column_widths(columns: list, width: float, sample: list[tuple] = ()) -> list[float]:
    """NIPs, dates and numbers get the width their longest value needs (never cut); the text
    columns share the rest in proportion to what their values need on the first page
    (`sample`: the PDF is streamed, the rest is not known yet), each cut with an ellipsis
    where a later value runs over (the CSV and XLSX carry every character)."""
    def needed(column) -> float | None:
        title = stringWidth(column.title, "Helvetica-Bold", FONT_SIZE) + 4
        if column.key == "nip" or column.key.endswith("_nip"):
            return max(title, stringWidth("0" * 18, "Helvetica", FONT_SIZE) + 5)
        if column.kind == "date":
            return max(title, stringWidth("0000-00-00", "Helvetica", FONT_SIZE) + 5)
        if column.kind in ("int", "percent"):
            return max(title, stringWidth("0.000.000", "Helvetica", FONT_SIZE) + 5)
        return None

    fixed = [needed(c) for c in columns]
    free = [i for i, w in enumerate(fixed) if w is None]
    left = width - sum(w for w in fixed if w is not None)
    if not free:
        return fixed
    if left / len(free) < 24:  # too many columns for the page: everything shrinks alike
        return [width / len(columns)] * len(columns)
    wants = {}
    for i in free:
        longest = max((stringWidth(str(cell(row[i])), "Helvetica", FONT_SIZE)
                       for row in sample if row[i] is not None), default=0)
        title = stringWidth(columns[i].title, "Helvetica-Bold", FONT_SIZE)
        wants[i] = max(min(max(longest, title * 0.6), 220), 12) + 5
    scale = left / sum(wants.values())
    if scale < 1:  # short columns keep what they need, long ones give up the difference
        floor = {i: min(w, 30) for i, w in wants.items()}
        spare = left - sum(floor.values())
        extra = sum(w - floor[i] for i, w in wants.items()) or 1
        widths = {i: floor[i] + (w - floor[i]) * max(spare, 0) / extra
                  for i, w in wants.items()}
    else:
        widths = {i: w * scale for i, w in wants.items()}
    return [w if w is not None else widths[i] for i, w in enumerate(fixed)]


def _heading(page: Page, sheet: Sheet, number: int) -> float:
    y = PAGE_H - MARGIN - TITLE_SIZE
    page.text(MARGIN, y, fit(sheet.title, PAGE_W - 2 * MARGIN - 80, TITLE_SIZE,
                             "Helvetica-Bold"), TITLE_SIZE, bold=True)
    page.text(PAGE_W - MARGIN, y, f"Halaman {number}", 8, align="right")
    y -= 12
    for note in sheet.notes[:3]:
        page.text(MARGIN, y, fit(note, PAGE_W - 2 * MARGIN, 7), 7)
        y -= 9
    if sheet.footer:
        page.text(MARGIN, MARGIN - 12, fit(sheet.footer, PAGE_W - 2 * MARGIN, 6), 6)
    return y - 4


def write_pdf(sheet: Sheet, rows: Iterable[tuple], out) -> None:
    """The list as a table flowing over landscape pages, each written as soon as it is full."""
    pdf = PdfWriter(out, sheet.title)
    number = 0
    if sheet.chart is not None:
        from services.reporting import charts

        number += 1
        page = Page()
        top = _heading(page, sheet, number)
        charts.draw_pdf(sheet.chart, page, MARGIN, MARGIN + 10, PAGE_W - 2 * MARGIN,
                        top - MARGIN - 16)
        pdf.page(page.bytes())
    rows = iter(rows)
    first = list(itertools.islice(rows, 60))  # the first page decides the columns' widths
    widths = column_widths(sheet.columns, PAGE_W - 2 * MARGIN, first)
    rows = itertools.chain(first, rows)
    right = {i for i, c in enumerate(sheet.columns) if c.kind in ("int", "percent")}

    def draw_row(page: Page, y: float, values: list, bold: bool = False,
                 shade: tuple | None = None) -> None:
        x = MARGIN
        if shade is not None:
            page.rect(MARGIN, y - 2.5, PAGE_W - 2 * MARGIN, ROW_H, fill=shade, stroke=False)
        for index, (value, w) in enumerate(zip(values, widths, strict=True)):
            shown = fit("" if value is None else str(cell(value)), w - 4,
                        FONT_SIZE, "Helvetica-Bold" if bold else "Helvetica")
            if index in right:
                page.text(x + w - 2, y, shown, bold=bold, align="right")
            else:
                page.text(x + 2, y, shown, bold=bold)
            x += w

    page, y, count = None, 0.0, 0
    for row in rows:
        if page is None or y < MARGIN + 4:
            if page is not None:
                pdf.page(page.bytes())
            number += 1
            page = Page()
            y = _heading(page, sheet, number) - 4
            draw_row(page, y, [c.title for c in sheet.columns], bold=True,
                     shade=(0.85, 0.88, 0.93))
            page.line(MARGIN, y - 3, PAGE_W - MARGIN, y - 3)
            y -= ROW_H
        draw_row(page, y, list(row), shade=(0.95, 0.95, 0.95) if count % 2 else None)
        y -= ROW_H
        count += 1
    if page is None:  # nothing to list: one page that says so
        number += 1
        page = Page()
        y = _heading(page, sheet, number) - 4
        draw_row(page, y, [c.title for c in sheet.columns], bold=True)
        y -= ROW_H
    page.text(MARGIN, max(y - 4, MARGIN - 2), f"Jumlah baris: {count:,}".replace(",", "."), 7,
              bold=True)
    pdf.page(page.bytes())
    pdf.close()
