"""Checks an uploaded document before it is stored: the regulation wants documents that are
original and clearly readable, so we take PDF, JPEG and PNG only — judged by their bytes, never by
their name — and refuse anything unreadable, empty-looking, locked, oversized, archived or that
decodes to far more than it weighs (decompression bombs: decoded-size, object and page limits
for PDFs, a pixel limit for images), saying exactly why (a reason code in `details` and a
message in Bahasa Indonesia). The records service runs `inspect` in a worker process with time
and memory limits (sandbox.py), never on its event loop."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO

from services.records.exceptions import RecordsError
from shared.errors import wire_payload

READ_CHUNK = 256 * 1024

_MAGIC_PDF = b"%PDF-"
_MAGIC_JPEG = b"\xff\xd8\xff"
_MAGIC_PNG = b"\x89PNG\r\n\x1a\n"
_ARCHIVES = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_EXECUTABLES = ((b"MZ", "exe"), (b"\x7fELF", "elf"), (b"#!", "script"))


@dataclass(frozen=True)
class DocumentPolicy:
    """What a readable original looks like; editable config, not rules baked into the checks."""

    max_bytes: int = 10 * 1024 * 1024
    #: a scan below this many pixels per side cannot be read reliably
    min_width: int = 600
    min_height: int = 600
    #: greyscale standard deviation (0-255) below which an image counts as a blank page
    blank_stddev: float = 4.0
    #: decompression-bomb guard: refuse images that would decode to more pixels than this
    max_image_pixels: int = 60_000_000
    max_pdf_pages: int = 500
    #: decompression-bomb guards for PDFs: decoded bytes of one stream, of the whole document
    #: (every decode counts), and objects the document may declare
    max_pdf_stream_bytes: int = 32 * 1024 * 1024
    max_pdf_decoded_bytes: int = 64 * 1024 * 1024
    max_pdf_objects: int = 200_000
    #: images are judged for blankness on a copy no larger than this per side
    blank_sample_px: int = 256


@dataclass(frozen=True)
class DocumentInfo:
    kind: str  # "pdf" | "jpeg" | "png"
    pages: int
    width: int | None  # pixels for images; None for PDFs
    height: int | None
    size: int
    sha256: str

    @property
    def content_type(self) -> str:
        return {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}[self.kind]


class DocumentRejected(RecordsError):
    code = "document_rejected"
    http_status = 422
    title = "Dokumen ditolak"
    transient = False

    def __init__(self, message=None, *, reason: str | None = None, field: str | None = "file",
                 details=None, **kwargs):
        if wire_payload(message) is not None:  # rebuilt from a Nameko remote error
            super().__init__(message)
            self.reason = (self.details or {}).get("reason")
            return
        self.reason = reason
        super().__init__(message, field=field, details={"reason": reason, **(details or {})},
                         **kwargs)


def inspect(
    stream: BinaryIO | bytes,
    declared_name: str | None = None,
    max_bytes: int | None = None,
    policy: DocumentPolicy | None = None,
) -> DocumentInfo:
    """Read an upload (at most max_bytes + 1 of it) and describe it, or raise DocumentRejected.

    The result's `sha256` is the content address the document store will give it.
    """
    policy = policy or DocumentPolicy()
    limit = policy.max_bytes if max_bytes is None else max_bytes
    data, sha256 = _read_bounded(stream, limit, declared_name)
    kind = _sniff(data, declared_name)
    if kind == "pdf":
        pages = _check_pdf(data, policy, declared_name)
        return DocumentInfo("pdf", pages, None, None, len(data), sha256)
    width, height = _check_image(data, kind, policy, declared_name)
    return DocumentInfo(kind, 1, width, height, len(data), sha256)


def _reject(reason: str, message: str, declared_name: str | None, **details) -> DocumentRejected:
    if declared_name is not None:
        details["declared_name"] = declared_name
    return DocumentRejected(message, reason=reason, details=details)


def _read_bounded(stream, limit: int, declared_name) -> tuple[bytes, str]:
    """Read in chunks and stop as soon as the upload is known to be over the limit."""
    if isinstance(stream, bytes | bytearray | memoryview):
        stream = io.BytesIO(bytes(stream))
    buffer = io.BytesIO()
    digest = hashlib.sha256()
    remaining = limit + 1
    while remaining > 0:
        chunk = stream.read(min(READ_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        buffer.write(chunk)
        digest.update(chunk)
    size = buffer.tell()
    if size > limit:
        raise _reject(
            "too_large",
            f"Ukuran berkas melebihi batas {limit // (1024 * 1024) or limit} "
            f"{'MB' if limit >= 1024 * 1024 else 'byte'}",
            declared_name,
            max_bytes=limit,
        )
    if size == 0:
        raise _reject("empty", "Berkas kosong", declared_name)
    return buffer.getvalue(), digest.hexdigest()


def _sniff(data: bytes, declared_name) -> str:
    if data.startswith(_MAGIC_PDF):
        return "pdf"
    if data.startswith(_MAGIC_JPEG):
        return "jpeg"
    if data.startswith(_MAGIC_PNG):
        return "png"
    for magic, archive in _ARCHIVES:
        if data.startswith(magic):
            raise _reject(
                "archive",
                f"Berkas arsip ({archive}) tidak diterima; unggah dokumennya langsung "
                "sebagai PDF, JPEG atau PNG",
                declared_name,
                detected=archive,
            )
    for magic, program in _EXECUTABLES:
        if data.startswith(magic):
            raise _reject(
                "executable",
                "Berkas ini adalah program, bukan dokumen; hanya PDF, JPEG atau PNG yang diterima",
                declared_name,
                detected=program,
            )
    raise _reject(
        "unsupported_type",
        "Jenis berkas tidak dikenali; hanya PDF, JPEG atau PNG yang diterima "
        "(dinilai dari isi berkas, bukan nama berkas)",
        declared_name,
    )


# --- PDF -----------------------------------------------------------------------------------------


def _decode_limits(policy: DocumentPolicy):
    from pyhanko.pdf_utils.decode_limits import (
        DecodeLimits,
        DocumentDecodeBudget,
        StreamDecodeLimits,
    )

    return DecodeLimits(
        per_stream=StreamDecodeLimits(max_output_size=policy.max_pdf_stream_bytes),
        document_budget=DocumentDecodeBudget(base_allowance=policy.max_pdf_decoded_bytes,
                                             max_ratio=0))


def _too_complex(declared_name, **details) -> DocumentRejected:
    return _reject("pdf_too_complex",
                   "PDF terlalu rumit untuk diperiksa (isinya mengembang melebihi batas saat "
                   "dibaca); unggah PDF hasil pindai atau cetak ulang biasa", declared_name,
                   **details)


def _check_pdf(data: bytes, policy: DocumentPolicy, declared_name) -> int:
    from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    if b"%%EOF" not in data[-2048:]:
        raise _reject(
            "pdf_truncated",
            "Berkas PDF terpotong atau tidak lengkap; unggah ulang berkas aslinya",
            declared_name,
        )
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False,
                               decode_limits=_decode_limits(policy))
        declared = reader.trailer_view.get("/Size", 0)
        if isinstance(declared, int) and declared > policy.max_pdf_objects:
            raise _too_complex(declared_name, objects=int(declared),
                               max_objects=policy.max_pdf_objects)
        if "/Encrypt" in reader.trailer_view:
            raise _reject(
                "pdf_encrypted",
                "PDF terkunci kata sandi atau terenkripsi; unggah PDF tanpa kata sandi",
                declared_name,
            )
        pages = _pdf_pages(reader, policy, declared_name)
        blank = [number for number, page in enumerate(pages, 1) if _pdf_page_is_blank(page)]
    except DocumentRejected:
        raise
    except PdfDecodeLimitError as exc:
        raise _too_complex(declared_name, max_stream_bytes=policy.max_pdf_stream_bytes,
                           max_decoded_bytes=policy.max_pdf_decoded_bytes) from exc
    except (PdfError, KeyError, ValueError, TypeError, AttributeError, AssertionError,
            RecursionError) as exc:
        raise _reject(
            "pdf_malformed",
            "Berkas PDF rusak dan tidak dapat dibaca; unggah ulang berkas aslinya",
            declared_name,
            error=type(exc).__name__,
        ) from exc
    if not pages:
        raise _reject("pdf_no_pages", "PDF tidak berisi halaman", declared_name)
    if blank:
        raise _reject(
            "blank_page",
            f"PDF berisi halaman kosong (halaman {', '.join(map(str, blank))}); "
            "pastikan setiap halaman terbaca",
            declared_name,
            pages=blank,
        )
    return len(pages)


def _resolve(obj):
    from pyhanko.pdf_utils import generic

    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def _pdf_pages(reader, policy: DocumentPolicy, declared_name) -> list:
    """The page dictionaries in order, walking the page tree without trusting its /Count."""
    from pyhanko.pdf_utils import generic

    pages: list = []
    seen: set = set()
    stack = [reader.root.raw_get("/Pages")]
    while stack:
        ref = stack.pop()
        if isinstance(ref, generic.IndirectObject):
            if ref.reference in seen:
                raise ValueError("circular page tree")
            seen.add(ref.reference)
        node = _resolve(ref)
        node_type = node.get("/Type")
        if node_type == "/Page" or (node_type is None and "/Kids" not in node):
            pages.append(node)
            if len(pages) > policy.max_pdf_pages:
                raise _reject(
                    "pdf_too_many_pages",
                    f"PDF melebihi {policy.max_pdf_pages} halaman",
                    declared_name,
                    max_pages=policy.max_pdf_pages,
                )
            continue
        kids = node.raw_get("/Kids")
        stack.extend(reversed(list(_resolve(kids))))
    return pages


def _pdf_page_is_blank(page) -> bool:
    """A page with no content stream, or only empty ones, shows nothing."""
    from pyhanko.pdf_utils import generic

    if "/Contents" not in page:
        return True
    contents = _resolve(page.raw_get("/Contents"))
    streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
    for stream in streams:
        stream = _resolve(stream)
        if isinstance(stream, generic.StreamObject) and stream.data.strip():
            return False
    return True


# --- Images --------------------------------------------------------------------------------------


def _check_image(data: bytes, kind: str, policy: DocumentPolicy, declared_name) -> tuple[int, int]:
    from PIL import Image, ImageStat

    label = kind.upper()
    malformed = _reject(
        "image_malformed",
        f"Gambar {label} rusak atau tidak lengkap; unggah ulang berkas aslinya",
        declared_name,
    )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if probe.format != kind.upper():
                raise malformed
            if width * height > policy.max_image_pixels:
                raise _reject(
                    "image_too_large",
                    "Dimensi gambar terlalu besar untuk diproses",
                    declared_name,
                    width=width,
                    height=height,
                    max_pixels=policy.max_image_pixels,
                )
            probe.verify()
        if width < policy.min_width or height < policy.min_height:
            raise _reject(
                "resolution_too_low",
                f"Resolusi gambar terlalu rendah ({width}×{height} piksel); minimal "
                f"{policy.min_width}×{policy.min_height} piksel agar terbaca jelas",
                declared_name,
                width=width,
                height=height,
                min_width=policy.min_width,
                min_height=policy.min_height,
            )
        with Image.open(io.BytesIO(data)) as image:
            sample = policy.blank_sample_px
            image.draft("L", (sample, sample))  # JPEG: decode at reduced scale
            image.load()
            grey = image.convert("L")
            grey.thumbnail((sample, sample))
            stddev = ImageStat.Stat(grey).stddev[0]
    except DocumentRejected:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise malformed from exc
    if stddev < policy.blank_stddev:
        raise _reject(
            "blank_page",
            "Gambar tampak kosong (tidak ada isi yang terbaca); unggah hasil pindaian yang jelas",
            declared_name,
            stddev=round(stddev, 2),
        )
    return width, height
