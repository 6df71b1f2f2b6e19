"""The access lifecycle (requests, revocation, periodic review) and machine clients."""

import psycopg2
import pytest

from shared.errors import Conflict, Forbidden, ValidationFailed
from tests.helpers import raises_code
from tests.identity_helpers import context_of, outbox_tokens, rpc, unique_username


def as_(identity, login, role):
    session = identity.login(login)
    return rpc(identity.config, context_of(session["principal"], role))


def request_body(login, opd="dinkes"):
    return {"role": "fasilitator", "opd_scope": [opd],
            "subject": {"login": login, "display_name": "Rina Wulandari, S.E.",
                        "email": f"{login}@jatimprov.go.id"},
            "justification": "SK Kepala Dinas Kesehatan tentang penunjukan fasilitator"}


def sql(url, query, params=()):
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def test_an_opd_asks_for_a_fasilitator_and_another_administrator_decides(identity,
                                                                        database_url):
    fasilitator = identity.staff(["fasilitator"], ["dinkes"])
    admin = identity.staff(["administrator"])
    newcomer = unique_username("rina")
    with as_(identity, fasilitator, "fasilitator") as svc:
        with pytest.raises(Forbidden):
            svc.request_access(request_body(newcomer, opd="dindik"))
        pending = svc.request_access(request_body(newcomer))
        assert pending["status"] == "pending" and pending["requested_by"] == fasilitator
    with as_(identity, admin, "administrator") as svc:
        assert pending["request_id"] in {r["request_id"] for r in
                                         svc.list_access_requests({"status": "pending"})}
        approved = svc.decide_access_request(pending["request_id"], True,
                                             {"note": "sesuai SK, disetujui"})
        assert approved["status"] == "approved" and approved["decided_by"] == admin
        with pytest.raises(Conflict):
            svc.decide_access_request(pending["request_id"], False, {"note": "terlambat"})
        account = svc.get_account(newcomer)
    assert account["roles"] == ["fasilitator"] and account["opd_scope"] == ["dinkes"]
    assert outbox_tokens(identity.config, f"{newcomer}@jatimprov.go.id"), "activation mailed"
    events = sql(database_url, "SELECT event_type, metadata->>'actor_id' FROM identity.events "
                 "WHERE stream_id = %s ORDER BY version",
                 (f"access-request:{pending['request_id']}",))
    assert events == [("AccessRequested", fasilitator), ("AccessRequestApproved", admin)]


def test_the_requester_never_decides_and_refusals_keep_their_reason(identity):
    admin, other_admin = identity.staff(["administrator"]), identity.staff(["administrator"])
    existing = identity.staff(["auditor"])
    with as_(identity, admin, "administrator") as svc:
        own = svc.request_access({**request_body(existing), "role": "fasilitator"})
        with pytest.raises(Forbidden):
            svc.decide_access_request(own["request_id"], True, {"note": "saya sendiri"})
    with as_(identity, other_admin, "administrator") as svc:
        with raises_code("integrity_pact_missing"):  # issue 17: no pact, no role
            svc.decide_access_request(own["request_id"], True, {"note": "empat mata"})
        identity.pact(existing, "fasilitator")
        granted = svc.decide_access_request(own["request_id"], True, {"note": "empat mata"})
        assert granted["status"] == "approved"
        assert set(svc.get_account(existing)["roles"]) == {"auditor", "fasilitator"}
        second = svc.request_access(request_body(unique_username("x")))
    with as_(identity, admin, "administrator") as svc:
        refused = svc.decide_access_request(second["request_id"], False,
                                            {"note": "OPD sudah punya dua fasilitator"})
    assert refused["status"] == "refused"
    assert refused["decision_note"] == "OPD sudah punya dua fasilitator"


def test_access_review_lists_every_account_flags_what_needs_a_decision_and_is_signed_off(
        identity, database_url):
    admin = identity.staff(["administrator"])
    stale = identity.pegawai("dinkes")
    identity.login(stale)
    sql(database_url, "UPDATE identity.accounts SET last_login_at = now() - interval '200 days'"
                      " WHERE account_id = %s", (stale,))
    unused = identity.pegawai("dinkes")
    sql(database_url, "UPDATE identity.accounts SET created_at = now() - interval '30 days' "
                      "WHERE account_id = %s", (unused,))
    no_otp = identity.staff(["fasilitator"], ["dinkes"])
    sql(database_url, "UPDATE identity.accounts SET totp_enrolled = false WHERE account_id = %s",
        (no_otp,))
    with as_(identity, admin, "administrator") as svc:
        review = svc.generate_access_review({"stale_days": 90})
        (total,) = sql(database_url, "SELECT count(*) FROM identity.accounts")[0]
        assert review["summary"]["accounts"] == len(review["items"]) == total
        findings = {i["account_id"]: i["findings"] for i in review["items"]}
        assert "stale" in findings[stale]
        assert "never_used" in findings[unused]
        assert "no_second_factor" in findings[no_otp]
        assert findings[admin] == []
        signed = svc.sign_off_access_review(review["review_id"],
                                            {"note": "akun lama dinonaktifkan"})
        assert signed["signed_off_by"] == admin and signed["sign_off_note"]
        with pytest.raises(Conflict):
            svc.sign_off_access_review(review["review_id"], {"note": "lagi"})
    auditor = identity.staff(["auditor"])
    with as_(identity, auditor, "auditor") as svc:
        assert svc.get_access_review(review["review_id"])["signed_off_by"] == admin
        with pytest.raises(Forbidden):
            svc.generate_access_review({"stale_days": 90})
        # the list (issue 16): newest first, without the items, a page at a time
        listed = svc.list_access_reviews({"limit": 200})
        mine = next(r for r in listed if r["review_id"] == review["review_id"])
        assert mine["signed_off_by"] == admin and "items" not in mine
        assert [r["generated_at"] for r in listed] == sorted(
            (r["generated_at"] for r in listed), reverse=True)
        assert len(svc.list_access_reviews({"limit": 1})) == 1
    with as_(identity, identity.staff(["fasilitator"], ["dinkes"]), "fasilitator") as svc, \
            pytest.raises(Forbidden):
        svc.list_access_reviews({})


def unregistered_kabkota(database_url) -> tuple[str, str]:
    """A kab/kota with no client yet in this run's database (the gateway fuzzer may have
    registered any of the 38 with the administrator's token): (BPS code, full name)."""
    from shared.reference import domain_data

    taken = {row[0] for row in sql(database_url, "SELECT client_id FROM identity.machine_clients")}
    for kab in domain_data()["kab_kota_jatim"]:
        if f"kabkota-{kab['kode_bps_nik']}" not in taken:
            return kab["kode_bps_nik"], kab["nama_lengkap"]
    raise AssertionError("every kab/kota already has a client")


def test_a_kabupaten_client_uses_api_credentials_within_its_agreement(identity, database_url):
    admin = identity.staff(["administrator"])
    code, full_name = unregistered_kabkota(database_url)
    client_id = f"kabkota-{code}"
    body = {"client_kind": "kabkota", "kabkota_code": code, "agreement_kind": "MoU",
            "agreement_number": "MoU/001/BKD-SBY/2026", "scopes": ["sync:push"],
            "valid_from": "2026-01-01", "valid_until": "2099-12-31",
            "reason": f"MoU integrasi data kepegawaian {full_name}"}
    with as_(identity, admin, "administrator") as svc:
        client = svc.register_client(body)
        with raises_code("account_exists"):
            svc.register_client(body)
        with pytest.raises(ValidationFailed):
            svc.register_client({**body, "kabkota_code": "3599"})
    assert client["client_id"] == client_id and client["name"] == full_name
    secret = client["client_secret"]
    with rpc(identity.config) as svc:
        token = svc.client_token({"client_id": client_id, "client_secret": secret})
        principal = svc.authenticate(token["access_token"])
        assert principal["roles"] == ["machine"] and principal["scopes"] == ["sync:push"]
        with raises_code("login_failed"):
            svc.client_token({"client_id": client_id, "client_secret": secret + "x"})
        # the agreement ran out: tokens already issued stop working, new ones are refused
        sql(database_url, "UPDATE identity.machine_clients SET valid_until = current_date - 1, "
                          "valid_from = current_date - 30 WHERE client_id = %s", (client_id,))
        with raises_code("agreement_expired"):
            svc.authenticate(token["access_token"])
        with raises_code("agreement_expired"):
            svc.client_token({"client_id": client_id, "client_secret": secret})
        sql(database_url, "UPDATE identity.machine_clients SET valid_until = '2099-12-31' "
                          "WHERE client_id = %s", (client_id,))
        token = svc.client_token({"client_id": client_id, "client_secret": secret})
        assert svc.authenticate(token["access_token"])["agreement"]["agreement_number"] == \
            "MoU/001/BKD-SBY/2026"
    # BKD suspends the agreement (issue 17): refused at once, the same token in again once
    # reinstated; each step is an event with its reason
    with as_(identity, admin, "administrator") as svc:
        suspended = svc.suspend_client(client_id, {"reason": "audit keamanan berjalan"})
        assert suspended["suspended"] and suspended["suspended_reason"] == \
            "audit keamanan berjalan"
        with raises_code("agreement_already_suspended"):
            svc.suspend_client(client_id, {"reason": "audit keamanan berjalan"})
    with rpc(identity.config) as svc:
        with raises_code("agreement_suspended"):
            svc.authenticate(token["access_token"])
        with raises_code("agreement_suspended"):
            svc.client_token({"client_id": client_id, "client_secret": secret})
    with as_(identity, admin, "administrator") as svc:
        assert not svc.reinstate_client(client_id, {"reason": "audit selesai"})["suspended"]
    with rpc(identity.config) as svc:
        assert svc.authenticate(token["access_token"])["account_id"] == client_id
    assert [r[0] for r in sql(database_url, "SELECT event_type FROM identity.events WHERE "
                                            "stream_id = %s AND (event_type LIKE 'ClientS%%' "
                                            "OR event_type = 'ClientReinstated') ORDER BY "
                                            "position", (f"account:{client_id}",))] == [
        "ClientSuspended", "ClientReinstated"]
    with as_(identity, admin, "administrator") as svc:
        rotated = svc.rotate_client_secret(client_id, {"reason": "rahasia bocor"})
    with rpc(identity.config) as svc:
        with raises_code("token_invalid"):
            svc.authenticate(token["access_token"])
        with raises_code("login_failed"):
            svc.client_token({"client_id": client_id, "client_secret": secret})
        fresh = svc.client_token({"client_id": client_id,
                                  "client_secret": rotated["client_secret"]})
    with as_(identity, admin, "administrator") as svc:
        assert svc.revoke_client(client_id, {"reason": "MoU diputus"})["status"] == \
            "disabled"
    with rpc(identity.config) as svc:
        with raises_code("token_invalid"):
            svc.authenticate(fresh["access_token"])
    stored = sql(database_url, "SELECT string_agg(payload::text || metadata::text, '') "
                               "FROM identity.events")[0][0]
    assert secret not in stored and rotated["client_secret"] not in stored
