"""What an employee is told when their request moves: one text for the in-app inbox
(verification) and the email (identity), so both say the same; and when a data request asks
for their consent (issue 17 part 2: inbox only)."""

from __future__ import annotations

#: the request events an employee is told about
NOTIFIED_EVENTS = ("RequestSubmitted", "VerificationStarted", "RequestReturned",
                   "RequestVerified", "RequestApproved", "RequestRejected", "RequestCompleted",
                   "RequestWithdrawn")


def notification_for(event_type: str, payload: dict) -> tuple[str, str] | None:
    """(title, body) in Bahasa of what an employee is told when their request moves; None for
    a step not told, or one withheld from the bus (a disciplinary procedure)."""
    if payload.get("withheld"):
        return None
    if event_type == "ConsentRequested":
        return ("Permintaan persetujuan data",
                f"{payload['organisation']} meminta data Anda ({', '.join(payload['fields'])}) "
                f"untuk: {payload['purpose']}. Beri atau tolak persetujuan di menu "
                "Persetujuan data; tanpa persetujuan Anda data tidak diserahkan.")
    if event_type == "RequestReturned":
        reasons = "; ".join(f"{code}: {why}" for code, why in payload["documents"].items())
        return ("Usulan dikembalikan untuk perbaikan",
                f"Perbaiki lalu ajukan kembali. {reasons}")
    if event_type == "RequestRejected":
        return "Usulan ditolak", f"Alasan: {payload.get('reason', '-')}"
    fixed = {
        "RequestSubmitted": ("Usulan diterima", "Usulan Anda masuk antrean verifikasi OPD."),
        "VerificationStarted": ("Usulan sedang diverifikasi",
                                "Fasilitator OPD sedang memeriksa dokumen Anda."),
        "RequestVerified": ("Usulan terverifikasi",
                            "Usulan Anda menunggu persetujuan BKD."),
        "RequestApproved": ("Usulan disetujui",
                            "Dokumen keluaran sedang disiapkan dan ditandatangani."),
        "RequestCompleted": ("Usulan selesai", "Dokumen keluaran yang ditandatangani tersedia."),
        "RequestWithdrawn": ("Usulan ditarik", "Usulan Anda telah ditarik."),
    }
    return fixed.get(event_type)


#: the signing events an employee is told about (issue 20 part 4): a document of theirs was
#: signed, revoked or replaced by a corrected one
DOCUMENT_EVENTS = ("DocumentSigned", "DocumentRevoked", "DocumentSuperseded")


def document_notification(event_type: str, document: dict) -> tuple[str, str] | None:
    """(title, body) in Bahasa of what an employee is told about their output document
    (`document`: the signing service's view of it, read when the event is consumed)."""
    name = f"{document.get('title') or 'Dokumen'} nomor {document.get('number') or '-'}"
    if event_type == "DocumentSigned":
        return ("Dokumen ditandatangani",
                f"{name} telah ditandatangani secara elektronik dan dapat diunduh di menu "
                "Dokumen saya.")
    if event_type == "DocumentRevoked":
        return ("Dokumen dicabut",
                f"{name} dicabut dan tidak berlaku lagi. Alasan: "
                f"{document.get('revoked_reason') or '-'}")
    if event_type == "DocumentSuperseded":
        return ("Dokumen diganti",
                f"{name} diganti dengan dokumen baru yang sudah dikoreksi; dokumen lama tidak "
                "berlaku lagi. Dokumen pengganti tersedia di menu Dokumen saya setelah "
                "ditandatangani.")
    return None
