"""Where identity's mail goes: the two transports `usecases/emails.py` delivers through — an SMTP
relay when SMTP_HOST is set, else the local outbox file (NOTIFICATION_OUTBOX). Each has
`send(to, subject, body, kind)`; which one a running service uses is decided in
dependencies.py (`Mail`)."""

from __future__ import annotations

import json
import os
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage


class SmtpRelay:
    def __init__(self, host: str, port: int, sender: str, starttls: bool,
                 username: str | None = None, password: str | None = None):
        self.host, self.port, self.sender, self.starttls = host, port, sender, starttls
        self.username, self.password = username, password

    def send(self, to: str, subject: str, body: str, kind: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class Outbox:
    """Where identity's mail goes when no SMTP relay is set (SMTP_HOST empty): a local JSON-lines
    file a developer reads. Messages reach it through `usecases.emails.deliver`, like the relay."""

    def __init__(self, path: str):
        self.path = path

    def send(self, to: str, subject: str, body: str, kind: str) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        line = json.dumps({"to": to, "subject": subject, "body": body, "kind": kind,
                           "queued_at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
