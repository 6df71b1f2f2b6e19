"""The gateway as a frontend meets it: problems for every failure, never a 500 for bad input,
tokens checked on every request, limits on size and rate, auditor reads recorded."""

import time

import jwt
import psycopg2
import pytest

from services.identity.fences import scope_of
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import PASSWORD, context_of, rpc


@pytest.fixture
def api(start_gateway):
    return start_gateway(GATEWAY_LOGIN_BURST=3, GATEWAY_LOGIN_RATE=1)


login = http_login


def assert_problem(answer, status, code, field=None):
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["code"] == code and answer.body["status"] == status
    assert answer.body["detail"] and answer.body["title"]
    assert answer.body["request_id"] == answer.headers["X-Request-Id"]
    if field:
        assert answer.body["field"] == field


def test_login_then_read_own_account(api):
    client, people, _ = api
    nip = people.pegawai("dinkes")
    token = login(client, people, nip)
    me = client.call("GET", "/api/me", token=token)
    assert me.status == 200 and me.body["account_id"] == nip and me.body["roles"] == ["pegawai"]
    assert client.call("GET", f"/api/accounts/{nip}", token=token).body["home_opd"] == "dinkes"


def test_missing_tampered_and_expired_tokens_are_401_problems(api):
    client, people, config = api
    token = login(client, people, people.pegawai())
    assert_problem(client.call("GET", "/api/me"), 401, "token_missing", "Authorization")
    assert_problem(client.call("GET", "/api/me", token=token[:-3] + "abc"), 401, "token_invalid")
    assert_problem(client.call("GET", "/api/me", headers={"Authorization": "Basic eDp5"}), 401,
                   "token_missing")
    claims = jwt.decode(token, config["TOKEN_SIGNING_KEY"], algorithms=["HS256"],
                        issuer="simasn-jatim/identity")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, config["TOKEN_SIGNING_KEY"],
                         algorithm="HS256")
    assert_problem(client.call("GET", "/api/me", token=expired), 401, "token_expired")
    assert client.call("POST", "/api/auth/logout", token=token).status == 204
    assert_problem(client.call("GET", "/api/me", token=token), 401, "token_invalid")


def test_bad_bodies_get_clear_problems_never_a_500(api):
    client, people, _ = api
    admin = login(client, people, people.staff(["administrator"]))
    assert_problem(client.call("POST", "/api/auth/login", raw=b"{not json"), 400, "invalid_json",
                   "body")
    assert_problem(client.call("POST", "/api/auth/login", body=["a", "list"]), 422,
                   "validation_failed", "body")
    assert_problem(client.call("POST", "/api/auth/login",
                               body={"login": "x", "password": "y", "is_admin": True}),
                   422, "validation_failed", "is_admin")
    assert_problem(client.call("POST", "/api/auth/login", body={"login": 12345, "password": 1}),
                   422, "validation_failed")
    assert_problem(client.call("POST", "/api/accounts", token=admin,
                               body={"login": "198501012010123456", "display_name": "A",
                                     "email": "bukan-email", "roles": ["pegawai"],
                                     "home_opd": "dinkes", "reason": "uji"}),
                   422, "validation_failed", "email")
    assert_problem(client.call("POST", "/api/accounts", token=admin,
                               body={"login": "198501012010123456", "display_name": "A",
                                     "email": "a@b.id", "roles": ["pegawai"],
                                     "home_opd": "tidak-ada", "reason": "uji"}),
                   422, "validation_failed", "home_opd")
    assert_problem(client.call("POST", "/api/auth/login", raw=b"x" * (65 * 1024)), 413,
                   "payload_too_large")
    assert_problem(client.call("POST", "/api/auth/login", raw=b"login=a",
                               headers={"Content-Type": "application/x-www-form-urlencoded"}),
                   415, "unsupported_media_type")
    assert_problem(client.call("GET", "/api/accounts?limit=100000", token=admin), 422,
                   "validation_failed", "limit")
    assert_problem(client.call("DELETE", "/api/me/sessions/not-a-uuid", token=admin), 404,
                   "not_found")


def test_login_attempts_are_rate_limited_per_client_and_login(api):
    client, people, _ = api
    nip = people.pegawai()
    bad = {"login": nip, "password": "Salah-Terus-123"}
    statuses = [client.call("POST", "/api/auth/login", body=bad).status for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    limited = client.call("POST", "/api/auth/login", body=bad)
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    other = client.call("POST", "/api/auth/login", body={"login": people.pegawai(),
                                                         "password": PASSWORD})
    assert other.status == 200, "another login from the same client is not held back"


def test_the_login_limit_holds_across_gateway_replicas(start_gateway):
    first, people, _ = start_gateway(GATEWAY_LOGIN_BURST=3, GATEWAY_LOGIN_RATE=1)
    second, _, _ = start_gateway(GATEWAY_LOGIN_BURST=3, GATEWAY_LOGIN_RATE=1)
    bad = {"login": people.pegawai(), "password": "Salah-Terus-123"}
    statuses = [gateway.call("POST", "/api/auth/login", body=bad).status
                for gateway in (first, second, first)]
    assert statuses == [401, 401, 401]
    # a fourth guess through the other replica draws from the same bucket
    assert_problem(second.call("POST", "/api/auth/login", body=bad), 429, "rate_limited")


def test_every_auditor_read_is_recorded(api, database_url):
    client, people, _ = api
    auditor = people.staff(["auditor"])
    token = login(client, people, auditor)
    assert client.call("GET", "/api/accounts?role=administrator", token=token).status == 200
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT payload, metadata FROM gateway.events WHERE stream_id = %s",
                    (f"auditor:{auditor}",))
        rows = cur.fetchall()
    conn.close()
    assert [r[0] for r in rows] == [{"method": "GET", "path": "/api/accounts",
                                     "query": "role=administrator"}]
    assert rows[0][1]["actor_role"] == "auditor" and rows[0][1]["correlation_id"]


def test_no_route_lets_staff_set_a_pegawai_password_email_or_phone(api):
    client, people, _ = api
    nip = people.pegawai("dinkes")
    admin = login(client, people, people.staff(["administrator"]))
    fasilitator = login(client, people, people.staff(["fasilitator"], ["dinkes"]))
    for token in (admin, fasilitator):
        for method, path, body, status in [
            ("PUT", f"/api/accounts/{nip}/password", {"new_password": "Diambil-Alih-77"}, 404),
            ("PUT", f"/api/accounts/{nip}/contact", {"email": "alih@evil.test"}, 404),
            ("PATCH", f"/api/accounts/{nip}", {"phone": "081111111111"}, 405),
        ]:
            assert client.call(method, path, token=token, body=body).status == status
    # the only staff action is a reset that the pegawai completes themselves
    reset = client.call("POST", f"/api/accounts/{nip}/password-reset", token=admin,
                        body={"reason": "lupa kata sandi"})
    assert reset.status == 200 and "token" not in reset.body
    assert client.call("POST", f"/api/accounts/{nip}/password-reset", token=fasilitator,
                       body={"reason": "coba"}).status == 403
    assert login(client, people, nip), "the pegawai's password still works"


@pytest.fixture
def cached_api(start_gateway, database_url):
    """The gateway with its session cache on, once it holds its lease from identity."""
    client, people, config = start_gateway(GATEWAY_SESSION_CACHE_SECONDS=300)

    def leased():
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM identity.session_cache_leases "
                        "WHERE scope = %s AND expires_at > now()", (scope_of(config["AMQP_URI"]),))
            return cur.fetchone()[0] > 0

    wait_for(leased, timeout=20, message="the gateway to hold a session-cache lease")
    return client, people, config


def test_with_a_session_cache_revocations_still_take_effect_at_once(cached_api):
    client, people, config = cached_api
    nip = people.pegawai()
    token = login(client, people, nip)
    assert client.call("GET", "/api/me", token=token).status == 200
    assert client.call("GET", "/api/me", token=token).status == 200  # now from the cache
    assert client.call("POST", "/api/auth/logout", token=token).status == 204
    assert_problem(client.call("GET", "/api/me", token=token), 401, "token_invalid")

    # a change made elsewhere (another gateway replica, an operator's tool) is answered only
    # after every caching replica dropped the session (tests/test_gateway_sessions.py)
    token = login(client, people, nip)
    assert client.call("GET", "/api/me", token=token).status == 200
    admin = people.login(people.staff(["administrator"]))
    with rpc(config, context_of(admin["principal"], "administrator")) as identity:
        identity.set_account_status(nip, False, {"reason": "diberhentikan"})
    assert_problem(client.call("GET", "/api/me", token=token), 401, "token_invalid")

    header, body, signature = token.split(".")
    forged = ".".join([header, body, signature[:-4] + "AAAA"])
    assert_problem(client.call("GET", "/api/me", token=forged), 401, "token_invalid")


def test_every_client_address_is_rate_limited(start_gateway):
    client, _, _ = start_gateway(GATEWAY_CLIENT_RATE=0.5, GATEWAY_CLIENT_BURST=3)
    statuses = [client.call("GET", "/health").status for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert_problem(client.call("GET", "/health"), 429, "rate_limited")


def test_a_nul_character_anywhere_is_refused_never_a_500(api):
    """PostgreSQL stores no NUL character (text or jsonb): one in a body, a query or a path
    reached the database and came back as a 500 (found by the fuzzer: a client's `reason`)."""
    client, people, _ = api
    admin = login(client, people, people.staff(["administrator"]))
    nip = people.pegawai()
    assert_problem(client.call("POST", f"/api/accounts/{nip}/disable", token=admin,
                               body={"reason": "uji\u0000coba"}), 422, "validation_failed",
                   "reason")
    assert_problem(client.call("POST", "/api/auth/login",
                               body={"login": "a\u0000b", "password": "x"}),
                   422, "validation_failed", "login")
    assert_problem(client.call("GET", "/api/accounts?role=a%00b", token=admin), 422,
                   "validation_failed", "role")
    for path in ("/api/accounts/a%00b", "/api/me/sessions/a%00b"):
        method = "DELETE" if "sessions" in path else "GET"
        assert_problem(client.call(method, path, token=admin), 404, "not_found")
