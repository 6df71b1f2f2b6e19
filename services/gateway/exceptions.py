"""Errors the gateway raises itself."""

from shared.errors import SimasnError, Unauthorized, ValidationFailed


class RouteNotFound(SimasnError):
    code = "route_not_found"
    http_status = 404
    title = "Alamat tidak ditemukan"
    transient = False


class ServiceUnavailable(SimasnError):
    code = "service_unavailable"
    http_status = 503
    title = "Layanan sedang tidak tersedia"


class TokenMissing(Unauthorized):
    code = "token_missing"
    title = "Perlu masuk (login) terlebih dahulu"


class PayloadTooLarge(SimasnError):
    code = "payload_too_large"
    http_status = 413
    title = "Data yang dikirim terlalu besar"
    transient = False


class InvalidJson(ValidationFailed):
    code = "invalid_json"
    http_status = 400
    title = "Badan permintaan bukan JSON yang sah"


class UnsupportedMediaType(SimasnError):
    code = "unsupported_media_type"
    http_status = 415
    title = "Jenis konten tidak didukung"
    transient = False


class TooManyRequests(SimasnError):
    code = "rate_limited"
    http_status = 429
    title = "Terlalu banyak permintaan; coba lagi sebentar lagi"
    transient = False


class MethodNotAllowed(SimasnError):
    code = "method_not_allowed"
    http_status = 405
    title = "Metode tidak diizinkan pada alamat ini"
    transient = False


class SnapshotDigestMismatch(SimasnError):
    """A region's snapshot whose bytes do not hash to the X-Simasn-Content-SHA256 it signed
    (the sync service's code of the same name: docs/design/sync.md)."""

    code = "snapshot_digest_mismatch"
    http_status = 422
    title = "Isi snapshot tidak cocok dengan SHA-256 yang ditandatangani"
    transient = False
