"""Upload checks against real bad files, generated here (no binary fixtures in the repo)."""

import hashlib
import io
import zipfile

import pytest
from PIL import Image

from services.records.documents import (
    DocumentPolicy,
    DocumentRejected,
    inspect,
)
from tests.document_samples import (
    _jpeg,
    _pdf_from_pyhanko,
    _pdf_with_text,
    _scanned_page,
    pdf_bomb,
)
from tests.helpers import raises_code

pytestmark = pytest.mark.timeout(30)


def _reason(excinfo) -> str:
    err = excinfo.value
    assert err.code == "document_rejected"
    assert err.http_status == 422
    assert err.field == "file"
    assert err.message
    return err.details["reason"]


class CountingUpload(io.RawIOBase):
    """A 200 MB upload that exists only as a counter: it never allocates more than one chunk."""

    def __init__(self, total: int, head: bytes = b"%PDF-1.7\n"):
        self.total = total
        self.head = head
        self.bytes_read = 0

    def readable(self):
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            raise AssertionError("the whole upload was requested at once")
        size = min(size, self.total - self.bytes_read)
        if size <= 0:
            return b""
        start = self.bytes_read
        chunk = (self.head[start:start + size] if start < len(self.head) else b"")
        chunk += b"0" * (size - len(chunk))
        self.bytes_read += size
        return chunk


def test_valid_pdf_with_text_is_accepted():
    data = _pdf_with_text(pages=2)
    info = inspect(io.BytesIO(data), declared_name="sk_pangkat.pdf")
    assert (info.kind, info.pages, info.size) == ("pdf", 2, len(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.content_type == "application/pdf"


def test_valid_scanned_jpeg_is_accepted():
    data = _jpeg(_scanned_page())
    info = inspect(io.BytesIO(data), declared_name="ijazah.jpg")
    assert (info.kind, info.width, info.height, info.pages) == ("jpeg", 1200, 1600, 1)


def test_kind_is_judged_by_content_not_name():
    data = _jpeg(_scanned_page())
    assert inspect(data, declared_name="ijazah.pdf").kind == "jpeg"


def test_renamed_exe_is_refused():
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"This program cannot be run in DOS mode"
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(exe), declared_name="x.pdf")
    assert _reason(err) == "executable"
    assert err.value.details["declared_name"] == "x.pdf"


def test_zip_is_refused_as_archive():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("sk.pdf", _pdf_with_text())
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(out.getvalue()), declared_name="sk.pdf")
    assert _reason(err) == "archive"
    assert err.value.details["detected"] == "zip"


def test_unknown_content_is_refused():
    with raises_code("document_rejected") as err:
        inspect(b"Nama,NIP\nBudi,1980\n", declared_name="data.pdf")
    assert _reason(err) == "unsupported_type"


def test_empty_upload_is_refused():
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(b""))
    assert _reason(err) == "empty"


def test_encrypted_pdf_is_refused():
    data = _pdf_from_pyhanko(encrypt="secret")
    assert b"/Encrypt" in data
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(data), declared_name="sk.pdf")
    assert _reason(err) == "pdf_encrypted"


def test_unencrypted_pyhanko_pdf_is_accepted():
    assert inspect(_pdf_from_pyhanko()).pages == 1


def test_truncated_pdf_is_refused():
    data = _pdf_with_text()
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(data[: len(data) // 2]))
    assert _reason(err) == "pdf_truncated"


def test_pdf_with_broken_structure_is_refused():
    data = _pdf_with_text()
    cut = data.index(b"xref")
    garbled = data[:cut] + b"garbage " * 20 + b"\nstartxref\n999999\n%%EOF\n"
    with raises_code("document_rejected") as err:
        inspect(garbled)
    assert _reason(err) == "pdf_malformed"


def test_pdf_with_blank_page_is_refused():
    with raises_code("document_rejected") as err:
        inspect(_pdf_from_pyhanko(blank=True))
    assert _reason(err) == "blank_page"
    assert err.value.details["pages"] == [1]


def test_one_pixel_png_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (1, 1), (0, 0, 0)).save(out, "PNG")
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(out.getvalue()), declared_name="foto.png")
    assert _reason(err) == "resolution_too_low"
    assert (err.value.details["width"], err.value.details["height"]) == (1, 1)


def test_blank_white_jpeg_is_refused():
    data = _jpeg(Image.new("RGB", (1200, 1600), (255, 255, 255)))
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(data), declared_name="scan.jpg")
    assert _reason(err) == "blank_page"


def test_truncated_jpeg_is_refused():
    data = _jpeg(_scanned_page())
    with raises_code("document_rejected") as err:
        inspect(data[: len(data) // 3])
    assert _reason(err) == "image_malformed"


def test_decompression_bomb_is_refused_before_decoding():
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(out, "PNG")
    policy = DocumentPolicy(max_image_pixels=20_000_000)
    with raises_code("document_rejected") as err:
        inspect(out.getvalue(), policy=policy)
    assert _reason(err) == "image_too_large"


def test_pdf_decompression_bomb_is_refused_as_too_complex():
    """A content stream of ~2 MB that decodes to 400 MB stops at the decode limit."""
    with raises_code("document_rejected") as err:
        inspect(pdf_bomb(400), max_bytes=10 << 20)
    assert _reason(err) == "pdf_too_complex"
    assert err.value.details["max_stream_bytes"] == DocumentPolicy().max_pdf_stream_bytes


def test_pdf_declaring_too_many_objects_is_refused_as_too_complex():
    with raises_code("document_rejected") as err:
        inspect(_pdf_with_text(), policy=DocumentPolicy(max_pdf_objects=3))
    assert _reason(err) == "pdf_too_complex"
    assert err.value.details["max_objects"] == 3


def test_policy_is_configurable():
    out = io.BytesIO()
    _scanned_page().resize((300, 400)).save(out, "PNG")
    with raises_code("document_rejected"):
        inspect(out.getvalue())
    info = inspect(out.getvalue(), policy=DocumentPolicy(min_width=200, min_height=200))
    assert (info.kind, info.width, info.height) == ("png", 300, 400)


def test_200_mb_upload_is_refused_before_it_is_all_read():
    upload = CountingUpload(200 * 1024 * 1024)
    max_bytes = 10 * 1024 * 1024
    with raises_code("document_rejected") as err:
        inspect(upload, declared_name="besar.pdf", max_bytes=max_bytes)
    assert _reason(err) == "too_large"
    assert upload.bytes_read <= max_bytes + 1
    assert err.value.details["max_bytes"] == max_bytes


def test_upload_exactly_at_limit_is_read_whole():
    data = _pdf_with_text()
    assert inspect(io.BytesIO(data), max_bytes=len(data)).size == len(data)
    with raises_code("document_rejected") as err:
        inspect(io.BytesIO(data), max_bytes=len(data) - 1)
    assert _reason(err) == "too_large"


def test_rejection_survives_as_simasn_error_dict():
    rebuilt = DocumentRejected(
        {"code": "document_rejected", "message": "x", "field": "file",
         "details": {"reason": "archive"}}
    )
    assert rebuilt.reason == "archive"
    assert rebuilt.to_dict()["details"] == {"reason": "archive"}
