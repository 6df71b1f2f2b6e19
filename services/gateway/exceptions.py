"""Errors the gateway raises itself."""

from shared.errors import SimasnError


class RouteNotFound(SimasnError):
    code = "route_not_found"
    http_status = 404
    title = "Alamat tidak ditemukan"
    transient = False


class ServiceUnavailable(SimasnError):
    code = "service_unavailable"
    http_status = 503
    title = "Layanan sedang tidak tersedia"
