"""The SMTP transport of identity's mail against a small SMTP server speaking the protocol over a
real socket (no STARTTLS here; smtplib's own)."""

from services.identity.mailer import SmtpRelay
from tests.identity_helpers import SmtpServer


def test_a_notification_goes_through_an_smtp_relay():
    with SmtpServer() as server:
        relay = SmtpRelay("127.0.0.1", server.port, "simasn@bkd.jatimprov.go.id",
                          starttls=False, username="simasn", password="rahasia-relay")
        relay.send("198001012005031001@mail.test", "SIMASN Jatim: Usulan diterima",
                   "Usulan Anda masuk antrean verifikasi OPD.", "request_notification")
    (mail,) = server.received
    assert "simasn@bkd.jatimprov.go.id" in mail["from"]
    assert [line.lower() for line in mail["to"]] == ["rcpt to:<198001012005031001@mail.test>"]
    assert "Subject: SIMASN Jatim: Usulan diterima" in mail["data"]
    assert "Usulan Anda masuk antrean verifikasi OPD." in mail["data"]
    assert mail["auth"].startswith("AUTH PLAIN")
