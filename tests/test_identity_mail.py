"""Activation and password-reset mails (issue 12, defect 14) go the way request notifications go:
queued in `email_outbox` in the transaction that makes the token, delivered by identity's timer
through the SMTP relay when SMTP_HOST is set, tried again when the relay refuses, sent at most
once. A small SMTP server run by the test stands in for BKD's relay, over a real socket."""

import psycopg2
import pytest

from services.identity.service import IdentityService
from services.identity.usecases import emails
from shared.testing import wait_for
from tests.identity_helpers import (
    PASSWORD,
    People,
    SmtpServer,
    context_of,
    outbox_tokens,
    rpc,
    unique_nip,
)


def outbox_rows(database_url, recipient):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind, status, attempts, body FROM identity.email_outbox "
                    "WHERE recipient = %s ORDER BY id", (recipient,))
        rows = cur.fetchall()
    conn.close()
    return rows


def due_rows(database_url) -> int:
    """Mails the delivery would claim now (emails.deliver's condition), whoever they are for."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM identity.email_outbox WHERE status = 'pending' OR "
                    "(status = 'failed' AND attempts < %s AND "
                    "next_attempt_at <= now())", (emails.MAX_ATTEMPTS,))
        count = cur.fetchone()[0]
    conn.close()
    return count


def token_in(message) -> str:
    return message.get_content().strip().rsplit(" ", 1)[-1]


@pytest.fixture
def relay():
    with SmtpServer() as server:
        yield server


def test_activation_and_reset_mails_go_through_the_relay_retried_and_sent_once(
        container_factory, identity_config, database_url, relay):
    config = {**identity_config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": relay.port,
              "SMTP_STARTTLS": "false"}
    container_factory(IdentityService, config).start()
    people = People(config)
    try:
        admin = people.login(people.staff(["administrator"]))
    finally:
        people.close()
    nip = unique_nip()
    address = f"{nip}@mail.test"
    # mails earlier tests left due in the run's database go out first, to this relay: let them,
    # so that the one refusal below meets this test's mail
    wait_for(lambda: not due_rows(database_url), timeout=30,
             message="earlier tests' due mails tried")

    relay.refuse = 1  # the relay is down for the first try
    with rpc(config, context_of(admin["principal"], "administrator")) as svc:
        svc.register_account({"login": nip, "display_name": "Budi Santoso", "email": address,
                              "roles": ["pegawai"], "home_opd": "dinkes", "reason": "CPNS 2025"})
    wait_for(lambda: relay.refused == 1, timeout=15, message="a first try at the relay")
    wait_for(lambda: [r[:3] for r in outbox_rows(database_url, address)]
             == [("activation", "failed", 1)], timeout=15, message="the refusal recorded")
    assert relay.mails_to(address) == []
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:  # a minute goes by
        cur.execute("UPDATE identity.email_outbox SET next_attempt_at = now() "
                    "WHERE recipient = %s", (address,))
    conn.close()
    (activation,) = wait_for(lambda: relay.mails_to(address), timeout=15,
                             message="the activation mail at the relay")
    assert activation["Subject"] == "Aktivasi akun SIMASN Jatim"
    token = token_in(activation)

    with rpc(config) as svc:  # the new pegawai activates with what the relay delivered
        svc.complete_password_reset({"token": token, "new_password": PASSWORD})
        assert svc.login({"login": nip, "password": PASSWORD})["status"] == "ok"
    with rpc(config, context_of(admin["principal"], "administrator")) as svc:
        svc.trigger_password_reset(nip, {"reason": "lupa kata sandi"})
    # the reset mail arriving means the timer ran again after the activation mail went out
    wait_for(lambda: len(relay.mails_to(address)) == 2, timeout=15, message="the reset mail")
    subjects = [m["Subject"] for m in relay.mails_to(address)]
    assert subjects == ["Aktivasi akun SIMASN Jatim", "Reset kata sandi SIMASN Jatim"]
    rows = outbox_rows(database_url, address)
    assert [r[:3] for r in rows] == [("activation", "sent", 2), ("reset", "sent", 1)]
    # a token waits in the outbox sealed and is gone once sent; nothing went to the outbox file
    assert not any(token in body or token_in(relay.mails_to(address)[1]) in body
                   for *_, body in rows)
    with pytest.raises(AssertionError):
        outbox_tokens(config, address, timeout=0)


def test_without_a_relay_the_mails_go_to_the_outbox_file(identity, identity_config,
                                                         database_url):
    admin = identity.login(identity.staff(["administrator"]))
    nip = unique_nip()
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.register_account({"login": nip, "display_name": "Budi Santoso",
                              "email": f"{nip}@mail.test", "roles": ["pegawai"],
                              "home_opd": "dinkes", "reason": "CPNS 2025"})
    (token,) = outbox_tokens(identity_config, f"{nip}@mail.test")
    # the file is written first, the row marked sent in the next transaction
    wait_for(lambda: [r[:3] for r in outbox_rows(database_url, f"{nip}@mail.test")] == [
        ("activation", "sent", 1)], timeout=30, message="the activation mail marked sent")
    with rpc(identity_config) as svc:
        svc.complete_password_reset({"token": token, "new_password": PASSWORD})
