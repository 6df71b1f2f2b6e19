"""Rendering an output document to PDF (reportlab): provincial letterhead, title, number,
the employee's data, the text, a QR code pointing to the public verification page, and the
space where the signing official's visible stamp goes (services/signing/pdfsign.py)."""

from __future__ import annotations

import io

import qrcode
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from services.signing import domain

WIDTH, HEIGHT = A4
MARGIN = 56
TEXT_WIDTH = WIDTH - 2 * MARGIN
QR_SIZE = 84


def _qr(pdf: canvas.Canvas, url: str, x: float, y: float) -> None:
    """The QR code as vector squares. One fixed mask pattern (any of the eight is valid):
    choosing the "best" one costs about 70 ms a document and scans no better on a printout."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
                         mask_pattern=2)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = QR_SIZE / len(matrix)
    path = pdf.beginPath()
    for row, line in enumerate(matrix):
        top = y + QR_SIZE - (row + 1) * module
        column = 0
        while column < len(line):  # one rectangle per run of dark modules in a row
            if not line[column]:
                column += 1
                continue
            start = column
            while column < len(line) and line[column]:
                column += 1
            path.rect(x + start * module, top, (column - start) * module, module)
    pdf.setFillGray(0)
    pdf.drawPath(path, stroke=0, fill=1)


def _paragraph(pdf: canvas.Canvas, text: str, y: float, size: float = 11,
               font: str = "Helvetica") -> float:
    for line in simpleSplit(text, font, size, TEXT_WIDTH):
        pdf.setFont(font, size)
        pdf.drawString(MARGIN, y, line)
        y -= size * 1.45
    return y - size * 0.6


def render(template: dict, values: dict, *, number: str, document_id: str,
           verification_url: str, place_date: str) -> bytes:
    """One A4 page (more when the text is long); deterministic for the same inputs."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    pdf.setTitle(f"{template['title']} {number}")
    pdf.setAuthor("Badan Kepegawaian Daerah Provinsi Jawa Timur")
    pdf.setSubject(f"SIMASN Jatim {document_id}")
    y = _heading(pdf, template, number)
    if template.get("kind") == "berita_acara":
        return _berita_acara(pdf, buffer, template, values, y, document_id=document_id,
                             verification_url=verification_url, place_date=place_date)
    if template.get("kind") == "daftar":
        return _daftar(pdf, buffer, template, values, y, document_id=document_id,
                       verification_url=verification_url, place_date=place_date)
    for paragraph in template["body"][:1]:
        y = _paragraph(pdf, domain.fill(paragraph, values), y)
    y = _fields(pdf, template, values, y)
    y -= 10
    table = values.get("tabel")
    if isinstance(table, dict) and table.get("rows"):  # e.g. a yearly evaluation's figures
        y = _section(pdf, str(table.get("title") or ""), y)
        y = _table(pdf, y, [(str(name), float(width)) for name, width in table["columns"]],
                   table["rows"], size=7.5)
    for paragraph in template["body"][1:] + [template["closing"]]:
        if y < 230:
            pdf.showPage()
            y = HEIGHT - MARGIN
        y = _paragraph(pdf, domain.fill(paragraph, values), y)
    return _finish(pdf, buffer, y, document_id=document_id, verification_url=verification_url,
                   place_date=place_date)


def _heading(pdf: canvas.Canvas, template: dict, number: str) -> float:
    """The provincial letterhead, the title and the number; returns where the text starts."""
    head = domain.letterhead()
    y = HEIGHT - MARGIN
    for index, line in enumerate(head):
        size = 14 if index < 2 else 9
        pdf.setFont("Helvetica-Bold" if index < 2 else "Helvetica", size)
        pdf.drawCentredString(WIDTH / 2, y, line)
        y -= size * 1.4
    pdf.setLineWidth(2)
    pdf.line(MARGIN, y, WIDTH - MARGIN, y)
    pdf.setLineWidth(0.6)
    pdf.line(MARGIN, y - 3, WIDTH - MARGIN, y - 3)
    y -= 30
    for line in simpleSplit(template["title"], "Helvetica-Bold", 12, TEXT_WIDTH):
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawCentredString(WIDTH / 2, y, line)
        y -= 16
    pdf.setFont("Helvetica", 11)
    pdf.drawCentredString(WIDTH / 2, y, f"Nomor: {number}")
    return y - 30


def _fields(pdf: canvas.Canvas, template: dict, values: dict, y: float) -> float:
    for key in template["fields"]:
        label = domain.FIELD_LABELS.get(key, key)
        pdf.setFont("Helvetica", 11)
        pdf.drawString(MARGIN + 20, y, label)
        value_lines = simpleSplit(str(values.get(key, "-")), "Helvetica-Bold", 11,
                                  TEXT_WIDTH - 190)
        for line in value_lines or ["-"]:
            pdf.drawString(MARGIN + 170, y, ":")
            pdf.setFont("Helvetica-Bold", 11)
            pdf.drawString(MARGIN + 180, y, line)
            pdf.setFont("Helvetica", 11)
            y -= 16
    return y


def _finish(pdf: canvas.Canvas, buffer: io.BytesIO, y: float, *, document_id: str,
            verification_url: str, place_date: str) -> bytes:
    """Place and date, the space of the signature stamp (pdfsign.STAMP_BOX) and the QR code at
    the foot of the last page."""
    if y < 230:
        pdf.showPage()
    pdf.setFont("Helvetica", 11)
    pdf.drawString(300, 175, place_date)
    _qr(pdf, verification_url, MARGIN, 60)
    pdf.setFont("Helvetica", 7)
    pdf.drawString(MARGIN, 50, "Pindai untuk memeriksa keaslian dokumen:")
    pdf.drawString(MARGIN, 41, verification_url[:110])
    pdf.drawString(MARGIN, 32, f"ID dokumen {document_id}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# -- the berita acara of a reconciliation meeting (services/sync/usecases/berita_acara.py) ------

def _table(pdf: canvas.Canvas, y: float, columns: list[tuple[str, float]], rows: list,
           size: float = 8.5) -> float:
    """A ruled table, the header repeated on every page it runs over; cells wrap."""
    widths = [width * TEXT_WIDTH for _, width in columns]

    def line(cells, font):
        nonlocal y
        wrapped = [simpleSplit(str(cell if cell not in (None, "") else "-"), font, size,
                               w - 6) or ["-"] for cell, w in zip(cells, widths, strict=True)]
        height = max(len(lines) for lines in wrapped) * size * 1.3 + 4
        if y - height < 90:
            pdf.showPage()
            y = HEIGHT - MARGIN
            if font != "Helvetica-Bold":
                line([name for name, _ in columns], "Helvetica-Bold")
        x = MARGIN
        pdf.setLineWidth(0.4)
        for lines, w in zip(wrapped, widths, strict=True):
            pdf.rect(x, y - height, w, height, stroke=1, fill=0)
            pdf.setFont(font, size)
            for index, text in enumerate(lines):
                pdf.drawString(x + 3, y - 3 - size - index * size * 1.3, text)
            x += w
        y -= height

    line([name for name, _ in columns], "Helvetica-Bold")
    for row in rows:
        line(row, "Helvetica")
    return y - 12


def _section(pdf: canvas.Canvas, title: str, y: float) -> float:
    if y < 150:
        pdf.showPage()
        y = HEIGHT - MARGIN
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(MARGIN, y, title)
    return y - 16


def _berita_acara(pdf: canvas.Canvas, buffer: io.BytesIO, template: dict, values: dict,
                  y: float, **finish) -> bytes:
    """The meeting (date, place), the region and year, the participants as a table, the figures
    per kind of difference, the decisions (listed, or summarised with a reference to the full
    list and its SHA-256 when there are too many), notes, the closing and the signature."""

    def para(text: str, y: float, size: float = 11) -> float:
        if y < 120:
            pdf.showPage()
            y = HEIGHT - MARGIN
        return _paragraph(pdf, text, y, size)

    y = para(domain.fill(template["body"][0], values), y)
    y = _fields(pdf, template, values, y) - 8
    y = _section(pdf, "Peserta rapat", y)
    y = _table(pdf, y, [("No", 0.06), ("Nama", 0.34), ("Jabatan", 0.3), ("Instansi", 0.3)],
               [[index, p.get("name"), p.get("position"), p.get("instansi")]
                for index, p in enumerate(values.get("peserta") or [], 1)])
    y = _section(pdf, "Selisih dan keputusan per jenis", y)
    y = _table(pdf, y, [("Jenis selisih", 0.31), ("Jumlah", 0.1), ("Ambil data daerah", 0.12),
                        ("Tetap data provinsi", 0.12), ("Minta perbaikan", 0.12),
                        ("Diterapkan", 0.115), ("Ditolak", 0.115)],
               values.get("angka") or [])
    y = _section(pdf, "Daftar keputusan", y)
    listed = values.get("keputusan") or []
    if listed:
        y = _table(pdf, y, [("No", 0.08), ("Jenis", 0.22), ("NIP", 0.2), ("Kolom", 0.14),
                            ("Keputusan", 0.18), ("Hasil", 0.18)], listed, size=8)
    y = para(str(values.get("keputusan_rujukan") or "-"), y, size=9)
    for paragraph in template["body"][1:]:
        y = para(domain.fill(paragraph, values), y)
    if values.get("catatan") not in (None, "", "-"):
        y = para(f"Catatan: {values['catatan']}", y)
    y = para(template["closing"], y)
    return _finish(pdf, buffer, y, **finish)


# -- an official list exported by reporting (services/reporting/usecases/exports.py) ---------

def _daftar(pdf: canvas.Canvas, buffer: io.BytesIO, template: dict, values: dict, y: float,
            **finish) -> bytes:
    """What the list is (title, filters, rows, the SHA-256 of the full PDF), then its rows as
    a table when reporting sent them (short lists; a long one is bound by its SHA-256)."""
    y = _paragraph(pdf, domain.fill(template["body"][0], values), y)
    y = _fields(pdf, template, values, y) - 8
    columns, rows = values.get("kolom") or [], values.get("baris") or []
    if columns and rows:
        y = _section(pdf, "Isi daftar", y)
        share = 1 / (len(columns) + 0.5)
        y = _table(pdf, y, [("No", share / 2)] + [(name, share) for name in columns],
                   [[index, *row] for index, row in enumerate(rows, 1)], size=6.5)
    for paragraph in template["body"][1:] + [template["closing"]]:
        if y < 120:
            pdf.showPage()
            y = HEIGHT - MARGIN
        y = _paragraph(pdf, domain.fill(paragraph, values), y, size=10)
    return _finish(pdf, buffer, y, **finish)
