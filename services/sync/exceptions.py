"""Errors of the sync service; all carry a code, an HTTP status and the field concerned. A region's
client reads the code (docs/design/sync.md lists every one)."""

from shared.errors import Conflict, NotFound, SimasnError, Unauthorized, ValidationFailed


class SyncError(SimasnError):
    code = "sync_error"
    http_status = 400
    transient = False


class SignatureMissing(Unauthorized):
    code = "signature_missing"
    title = "Permintaan tidak bertanda tangan"


class KeyUnknown(Unauthorized):
    code = "key_unknown"
    title = "Kunci daerah tidak dikenal"


class KeyRetired(Unauthorized):
    code = "key_retired"
    title = "Kunci daerah sudah tidak berlaku"


class SignatureInvalid(Unauthorized):
    code = "signature_invalid"
    title = "Tanda tangan permintaan tidak cocok"


class TimestampOutsideWindow(Unauthorized):
    code = "timestamp_outside_window"
    title = "Waktu permintaan di luar jendela yang diterima"


class BatchReplayed(Conflict):
    code = "batch_replayed"
    title = "Id batch sudah pernah dipakai"


class BatchTooLarge(SyncError):
    code = "batch_too_large"
    http_status = 413
    title = "Batch terlalu besar"


class BatchTooManyEvents(SyncError):
    code = "batch_too_many_events"
    http_status = 413
    title = "Batch berisi terlalu banyak peristiwa"


class BatchMalformed(SyncError):
    code = "batch_malformed"
    http_status = 400
    title = "Batch bukan JSON yang sah"


class BatchInvalid(ValidationFailed):
    code = "batch_invalid"
    title = "Batch tidak sesuai format"


class RegionUnknown(NotFound):
    code = "region_unknown"
    title = "Daerah tidak dikenal"


class RegionAlreadyOnboarded(Conflict):
    code = "region_already_onboarded"
    title = "Daerah sudah terdaftar"


class KeyLimitReached(Conflict):
    code = "key_limit_reached"
    title = "Terlalu banyak kunci aktif"


class LastKey(Conflict):
    code = "last_active_key"
    title = "Kunci aktif terakhir tidak dapat dicabut"


class NotQuarantined(Conflict):
    code = "not_quarantined"
    title = "Peristiwa tidak dalam karantina"


# -- a reconciliation's decisions, applying them and the berita acara ---------------------------

class SnapshotReplayed(Conflict):
    code = "snapshot_replayed"
    title = "Id snapshot sudah pernah dipakai"


class SnapshotTooLarge(SyncError):
    code = "snapshot_too_large"
    http_status = 413
    title = "Snapshot terlalu besar"


class SnapshotInvalid(ValidationFailed):
    code = "snapshot_invalid"
    title = "Permintaan snapshot tidak sesuai format"


class SnapshotDigestMismatch(ValidationFailed):
    code = "snapshot_digest_mismatch"
    title = "Isi snapshot tidak cocok dengan SHA-256 yang ditandatangani"


class SnapshotUnknown(NotFound):
    code = "snapshot_unknown"
    title = "Snapshot tidak ditemukan"


class SnapshotNotLoaded(Conflict):
    code = "snapshot_not_loaded"
    title = "Snapshot belum selesai dimuat"


class ReconciliationUnknown(NotFound):
    code = "reconciliation_unknown"
    title = "Rekonsiliasi tidak ditemukan"


class DifferenceUnknown(ValidationFailed):
    code = "difference_unknown"
    title = "Selisih tidak ada pada rekonsiliasi ini"


class DecisionNotAllowed(ValidationFailed):
    code = "decision_not_allowed"
    title = "Keputusan tidak berlaku untuk jenis selisih ini"


class DecisionApplied(Conflict):
    code = "decision_applied"
    title = "Keputusan sudah diterapkan dan tidak dapat diubah"


class ReconciliationNotDecidable(Conflict):
    code = "reconciliation_not_decidable"
    title = "Rekonsiliasi tidak dalam tahap keputusan"


class BeritaAcaraNotReady(Conflict):
    code = "berita_acara_not_ready"
    title = "Berita acara belum dapat dibuat"


class BeritaAcaraNotSigned(SyncError):
    code = "berita_acara_not_signed"
    http_status = 503
    transient = True
    title = "Berita acara belum selesai ditandatangani"

class ReconciliationRunning(Conflict):
    code = "reconciliation_running"
    title = "Rekonsiliasi daerah ini sedang berjalan"
