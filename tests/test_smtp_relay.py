"""The SMTP transport of request notifications against a small SMTP server speaking the
protocol over a real socket (no STARTTLS here; smtplib's own)."""

import socketserver
import threading

from services.identity.mailer import SmtpRelay


class SmtpSession(socketserver.StreamRequestHandler):
    received: list = []

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.reply("220 test ESMTP")
        envelope = {"from": None, "to": [], "data": ""}
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-test")
                self.reply("250 AUTH PLAIN")
            elif verb == "AUTH":
                envelope["auth"] = line
                self.reply("235 ok")
            elif verb == "MAIL":
                envelope["from"] = line
                self.reply("250 ok")
            elif verb == "RCPT":
                envelope["to"].append(line)
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while (data := self.rfile.readline().decode()) != ".\r\n":
                    lines.append(data)
                envelope["data"] = "".join(lines)
                SmtpSession.received.append(envelope)
                self.reply("250 queued")
            elif verb == "QUIT" or not line:
                self.reply("221 bye")
                return
            else:
                self.reply("502 no")


def test_a_notification_goes_through_an_smtp_relay():
    SmtpSession.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSession)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        relay = SmtpRelay("127.0.0.1", server.server_address[1], "simasn@bkd.jatimprov.go.id",
                          starttls=False, username="simasn", password="rahasia-relay")
        relay.send("198001012005031001@mail.test", "SIMASN Jatim: Usulan diterima",
                   "Usulan Anda masuk antrean verifikasi OPD.", "request_notification")
    finally:
        server.shutdown()
        server.server_close()
    (mail,) = SmtpSession.received
    assert "simasn@bkd.jatimprov.go.id" in mail["from"]
    assert [line.lower() for line in mail["to"]] == ["rcpt to:<198001012005031001@mail.test>"]
    assert "Subject: SIMASN Jatim: Usulan diterima" in mail["data"]
    assert "Usulan Anda masuk antrean verifikasi OPD." in mail["data"]
    assert mail["auth"].startswith("AUTH PLAIN")
