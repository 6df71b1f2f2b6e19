"""Documents generated for tests (no binary fixtures in the repo): readable PDFs and scans, and
the raw material for the bad ones."""

import io
import random

from PIL import Image, ImageDraw


def _pdf_with_text(pages: int = 1, marker: str = "") -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    for number in range(1, pages + 1):
        pdf.drawString(72, 720, f"SURAT KEPUTUSAN No. 800/{number}/2024")
        pdf.drawString(72, 700, f"Pemerintah Provinsi Jawa Timur {marker}")
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _pdf_from_pyhanko(encrypt: str | None = None, blank: bool = False) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    content = b"" if blank else b"BT /F1 12 Tf 72 720 Td (Rahasia) Tj ET"
    stream = writer.add_object(generic.StreamObject(stream_data=content))
    writer.insert_page(PageObject(contents=stream, media_box=generic.ArrayObject(
        [generic.NumberObject(v) for v in (0, 0, 595, 842)])))
    if encrypt:
        writer.encrypt(encrypt)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _scanned_page() -> Image.Image:
    rng = random.Random(4)
    image = Image.new("L", (1200, 1600), 235)
    draw = ImageDraw.Draw(image)
    for line in range(60):
        y = 80 + line * 24
        draw.text((80, y), f"Baris {line}: NIP 19800101 200501 1 00{line % 10}", fill=20)
    for _ in range(4000):
        x, y = rng.randrange(1200), rng.randrange(1600)
        image.putpixel((x, y), rng.randrange(256))
    return image



pdf_with_text = _pdf_with_text


def pdf_bomb(decoded_mb: int = 400) -> bytes:
    """A one-page PDF whose content stream is FlateDecode of `decoded_mb` MB of zeros: well
    under a megabyte on disk, hundreds of MB once decoded (a decompression bomb)."""
    import zlib

    packer = zlib.compressobj(1)  # fast to build; still ~230:1
    megabyte = b"\x00" * (1 << 20)
    compressed = b"".join(packer.compress(megabyte) for _ in range(decoded_mb)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed) + compressed
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()
