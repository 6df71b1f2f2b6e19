"""Identity's email outbox (`email_outbox`): request notifications (issue 5; identity owns the
addresses), queued from the requests events exactly once, and activation and password-reset mails
(issue 12), queued in the transaction that makes their token. All are delivered the same way, at
most once, through a transport of mailer.py — an SMTP relay when SMTP_HOST is set, else the
local outbox file (NOTIFICATION_OUTBOX)."""

from __future__ import annotations

import smtplib
import uuid

from services.identity.security import SecretBox, TokenInvalid
from shared.logging import get_logger
from shared.notifications import document_notification, notification_for

log = get_logger(__name__)
SUBJECT_PREFIX = "SIMASN Jatim: "


def queue(uow, event) -> None:
    """The mail a requests event tells its employee, queued once (keyed by the event's place in
    the requests log); nobody without an active account and an address is mailed."""
    message = notification_for(event.event_type, event.payload)
    nip = event.payload.get("nip")
    if message is None or not nip:
        return
    _queue_once(uow, event, nip, message, f"Usulan: {event.stream_id.split(':', 1)[1]}")


def queue_document(uow, event, document: dict) -> None:
    """The mail telling an employee their output document was signed, revoked or replaced
    (issue 20; `document`: the signing service's view of it), queued once per signing event.
    A confidential one (a disciplinary decision, a written warning) is told in the in-app
    inbox only: a mailbox is not ours to protect."""
    message = document_notification(event.event_type, document)
    nip = document.get("nip")
    if message is None or not nip or document.get("confidential"):
        return
    _queue_once(uow, event, nip, message, f"Dokumen: {document['document_id']}")


def _queue_once(uow, event, nip: str, message: tuple[str, str], reference: str) -> None:
    """The employee's mail for one event, keyed by the event's place in its log; nobody
    without an active account and an address is mailed (the in-app inbox still has it)."""
    row = uow.execute("SELECT email FROM accounts WHERE account_id = :a AND status = 'active'",
                      {"a": nip}).first()
    if row is None or not row[0]:
        return
    title, body = message
    uow.execute(
        "INSERT INTO email_outbox (source_key, recipient, subject, body) VALUES "
        "(:k, :to, :s, :b) ON CONFLICT (source_key) DO NOTHING",
        {"k": f"{event.source}:{event.position}", "to": row[0], "s": SUBJECT_PREFIX + title,
         "b": f"{body}\n\n{reference}"})


def queue_account_mail(uow, box: SecretBox, kind: str, to: str, subject: str, body: str) -> None:
    """An activation or reset mail, in the transaction that made its token (so a rolled-back
    registration mails nobody). The body holds the token: it is stored sealed until sent."""
    uow.execute(
        "INSERT INTO email_outbox (source_key, recipient, subject, body, kind, sealed) VALUES "
        "(:k, :to, :s, :b, :kind, true)",
        {"k": f"{kind}:{uuid.uuid4()}", "to": to, "s": subject, "b": box.seal(body),
         "kind": kind})


MAX_ATTEMPTS = 5
RETRY_MINUTES = (1, 5, 30, 120)  # after the 1st, 2nd, 3rd and 4th refusal


def deliver(db, transport, box: SecretBox | None = None, batch: int = 50) -> int:
    """Claim messages due — new ones, and refused ones whose retry time has come — marking
    them before sending, and send them; returns how many were tried. A refusal (the relay
    said no, or could not be reached) is tried again later, up to MAX_ATTEMPTS times. A sealed
    body (one carrying a token) is opened with `box` just before sending and erased once sent."""
    with db.transaction() as uow:
        claimed = uow.execute(
            "UPDATE email_outbox SET status = 'sending', attempts = attempts + 1 WHERE id IN "
            "(SELECT id FROM email_outbox WHERE (status = 'pending' OR (status = 'failed' AND "
            "attempts < :max AND next_attempt_at <= now())) ORDER BY id LIMIT :n "
            "FOR UPDATE SKIP LOCKED) RETURNING id, recipient, subject, body, attempts, kind, "
            "sealed", {"n": batch, "max": MAX_ATTEMPTS}).all()
    for message_id, recipient, subject, body, attempts, kind, sealed in claimed:
        try:
            if sealed:
                if box is None:
                    raise TokenInvalid("a sealed message needs the identity secret box")
                body = box.open(body)
            transport.send(recipient, subject, body, kind)
            status, error = "sent", None
        except (OSError, smtplib.SMTPException, TokenInvalid) as exc:
            status, error = "failed", str(exc)[:500]
            log.warning("email_failed", message_id=message_id, attempts=attempts, error=error)
        wait = RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1]
        with db.transaction() as uow:
            uow.execute("UPDATE email_outbox SET status = :s, error = :e, sent_at = CASE WHEN "
                        ":s = 'sent' THEN now() END, next_attempt_at = now() + "
                        "make_interval(mins => :wait), body = CASE WHEN :s = 'sent' AND sealed "
                        "THEN '' ELSE body END WHERE id = :id",
                        {"s": status, "e": error, "id": message_id, "wait": wait})
    return len(claimed)
