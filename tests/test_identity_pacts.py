"""The integrity pact (pakta integritas, issue 17 part 5), through the gateway, identity and the
signing service: a staff role is granted only on the person's pact in force (signed by them,
rendered and signed by signing, kept with the grant); withdrawn, the role stops on the very next
request; the access review shows every pact and flags a role without one."""

import psycopg2
import pytest

from services.signing.service import SigningService
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD


@pytest.fixture
def stack(start_gateway):
    return start_gateway(SigningService)


def events(database_url, account_id):
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT event_type, payload FROM identity.events WHERE stream_id = %s "
                    "ORDER BY version", (f"account:{account_id}",))
        rows = cur.fetchall()
    conn.close()
    return rows


def test_a_role_rests_on_the_persons_signed_pact_and_stops_when_it_is_withdrawn(
        stack, database_url):
    client, people, _ = stack
    admin_login = people.staff(["administrator"])
    admin = http_login(client, people, admin_login)
    person = people.staff(["auditor"])
    grant = {"role": "fasilitator", "opd_scope": ["dinkes"], "reason": "SK penunjukan"}

    # no pact: the grant is refused, saying why
    refused = client.call("POST", f"/api/accounts/{person}/roles", token=admin, body=grant)
    assert refused.status == 409 and refused.code == "integrity_pact_missing"
    assert refused.body["field"] == "role"

    # the person signs it from their own session, re-entering password and OTP
    token = http_login(client, people, person)
    assert client.call("GET", "/api/me/integrity-pacts", token=token).body == []
    wrong = client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": "fasilitator", "opd_scope": ["dinkes"], "password": "Bukan-Sandinya-1"})
    assert wrong.status == 401 and wrong.body["field"] == "password"
    signed = client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": "fasilitator", "opd_scope": ["dinkes"], "password": PASSWORD,
        "otp": people.otp(person)})
    assert signed.status == 201, signed.body
    pact = signed.body
    assert pact["in_force"] and pact["role"] == "fasilitator" and pact["opd_scope"] == ["dinkes"]
    assert pact["paper_reference"] is None and pact["document_id"]
    again = client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": "fasilitator", "password": PASSWORD})
    assert again.status == 409 and again.code == "integrity_pact_in_force"
    document = client.call("GET", f"/api/signed-documents/{pact['document_id']}", token=admin)
    assert document.status == 200 and document.body["status"] == "signed"
    assert document.body["document_key"] == "PAKTA_INTEGRITAS"

    # with it the grant goes through and records the pact it rests on
    granted = client.call("POST", f"/api/accounts/{person}/roles", token=admin, body=grant)
    assert granted.status == 200, granted.body
    assert set(granted.body["roles"]) == {"auditor", "fasilitator"}
    grants = [p for t, p in events(database_url, person) if t == "RoleGranted"]
    assert [g["pact_id"] for g in grants] == [pact["pact_id"]]
    assert set(client.call("GET", "/api/me", token=token).body["roles"]) == {
        "auditor", "fasilitator"}
    ask = {"role": "fasilitator", "opd_scope": ["dinkes"], "justification": "uji",
           "subject": {"login": "calon.fasil", "display_name": "Calon",
                       "email": "calon@jatimprov.go.id"}}
    assert client.call("POST", "/api/access-requests", token=token, body=ask).status == 201
    assert [p["pact_id"] for p in client.call("GET", "/api/me/integrity-pacts",
                                              token=token).body] == [pact["pact_id"]]

    # withdrawn: the very next request (the gateway caches sessions) no longer has the role
    withdrawn = client.call("POST", f"/api/me/integrity-pacts/{pact['pact_id']}/withdraw",
                            token=token, body={"reason": "pindah tugas"})
    assert withdrawn.status == 200 and not withdrawn.body["in_force"]
    assert withdrawn.body["withdrawn_reason"] == "pindah tugas"
    me = client.call("GET", "/api/me", token=token).body
    assert set(me["roles"]) == {"auditor", "unsigned"}
    stopped = client.call("POST", "/api/access-requests", token=token, body=ask)
    assert stopped.status == 403
    twice = client.call("POST", f"/api/me/integrity-pacts/{pact['pact_id']}/withdraw",
                        token=token, body={"reason": "lagi"})
    assert twice.status == 409 and twice.code == "integrity_pact_withdrawn"
    assert [t for t, _ in events(database_url, person) if t.startswith("IntegrityPact")] == [
        "IntegrityPactSigned", "IntegrityPactWithdrawn"]

    # the access review shows each staff role's pact and flags the one without a pact in force
    review = client.call("POST", "/api/access-reviews", token=admin, body={"stale_days": 90})
    assert review.status == 201, review.body
    items = {i["account_id"]: i for i in review.body["items"]}
    mine = items[person]
    assert "integrity_pact_missing" in mine["findings"]
    assert [(p["pact_id"], p["document_id"], p["withdrawn_at"] is not None)
            for p in mine["pacts"]] == [(pact["pact_id"], pact["document_id"], True)]
    bootstrapped = items[admin_login]
    assert "integrity_pact_missing" not in bootstrapped["findings"]
    assert [(p["role"], p["document_id"], p["withdrawn_at"]) for p in bootstrapped["pacts"]] == [
        ("administrator", None, None)]
    assert bootstrapped["pacts"][0]["paper_reference"].startswith("pakta kertas")


def test_a_staff_role_without_a_pact_only_reaches_the_account_and_its_pacts(stack):
    client, people, _ = stack
    admin = http_login(client, people, people.staff(["administrator"]))
    fasilitator = people.staff(["fasilitator"], ["dinkes"])
    token = http_login(client, people, fasilitator)
    (paper,) = client.call("GET", "/api/me/integrity-pacts", token=token).body
    assert paper["in_force"] and paper["paper_reference"]
    assert client.call("GET", "/api/accounts?opd_id=dinkes", token=token).status == 200
    assert client.call("POST", f"/api/me/integrity-pacts/{paper['pact_id']}/withdraw",
                       token=token, body={"reason": "uji"}).status == 200
    assert client.call("GET", "/api/me", token=token).body["roles"] == ["unsigned"]
    assert client.call("GET", "/api/accounts?opd_id=dinkes", token=token).status == 403
    # it signs again, and the role works again at once
    signed = client.call("POST", "/api/me/integrity-pacts", token=token, body={
        "role": "fasilitator", "password": PASSWORD, "otp": people.otp(fasilitator)})
    assert signed.status == 201, signed.body
    assert signed.body["opd_scope"] == ["dinkes"]  # a fasilitator's pact names their OPDs
    assert client.call("GET", "/api/me", token=token).body["roles"] == ["fasilitator"]
    assert client.call("GET", "/api/accounts?opd_id=dinkes", token=token).status == 200

    # BKD revokes the signed pact's document: the pact is withdrawn, and the role stops
    revoked = client.call("POST", f"/api/signed-documents/{signed.body['document_id']}/revocation",
                          token=admin, body={"reason": "pakta dibatalkan BKD"})
    assert revoked.status == 200 and revoked.body["status"] == "revoked", revoked.body
    wait_for(lambda: client.call("GET", "/api/me", token=token).body["roles"] == ["unsigned"],
             timeout=60, message="the role stops once the pact's document is revoked")
    (latest, _) = client.call("GET", "/api/me/integrity-pacts", token=token).body
    assert latest["pact_id"] == signed.body["pact_id"] and not latest["in_force"]
    assert latest["withdrawn_reason"].startswith("dokumen pakta dicabut")
    assert client.call("GET", "/api/accounts?opd_id=dinkes", token=token).status == 403
