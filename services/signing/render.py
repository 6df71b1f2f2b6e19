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
    y -= 30
    for paragraph in template["body"][:1]:
        y = _paragraph(pdf, domain.fill(paragraph, values), y)
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
    y -= 10
    for paragraph in template["body"][1:] + [template["closing"]]:
        if y < 230:
            pdf.showPage()
            y = HEIGHT - MARGIN
        y = _paragraph(pdf, domain.fill(paragraph, values), y)
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
