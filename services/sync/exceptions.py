"""Errors of the sync service; all carry a code, an HTTP status and the field concerned."""

from shared.errors import SimasnError


class SyncError(SimasnError):
    code = "sync_error"
    http_status = 400
    transient = False
