"""Property-based fuzzing of the gateway from its own OpenAPI document (schemathesis): for every
operation, generated inputs — valid and invalid — with an administrator's token must never get a
5xx, and every error must be an RFC 7807 problem."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from services.gateway import openapi
from services.gateway.service import GatewayService  # noqa: F401 - registers the routes
from services.records.service import RecordsService
from services.requests.service import RequestsService
from services.signing.service import SigningService
from services.verification.service import VerificationService
from shared.migrations import migrate
from shared.testing import create_test_database, drop_test_database
from tests.document_samples import pdf_with_text

ADMIN_URL = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# logging out would end the administrator's session for every later example
#: operation -> {status: count}, printed at the end of the run (tests/conftest.py)
FUZZ_STATS: dict[str, dict[int, int]] = {}
# raw PDF bodies (the public signature check): random bytes, broken and real PDF headers
schemathesis.openapi.media_type("application/pdf", st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda tail: b"%PDF-1.7\n" + tail, st.binary(max_size=2048)),
    st.sampled_from([pdf_with_text(marker="fuzz")])))
schema = schemathesis.openapi.from_dict(openapi.document()).exclude(path="/api/auth/logout")


@pytest.fixture(scope="module")
def fuzz_database():
    """A database of the fuzzer's own: with an administrator's token it creates whatever the
    API lets it (clients, accounts, catalogue versions), which must not meet the other tests'
    fixed names."""
    url = create_test_database(ADMIN_URL, prefix="simasn_fuzz")
    migrate(url)
    yield url
    drop_test_database(url)


@pytest.fixture
def fuzz_target(start_gateway, fuzz_database):
    """The gateway with identity, records, requests, verification and signing behind it, and an
    administrator's token."""
    client, people, _ = start_gateway(RecordsService, RequestsService, VerificationService,
                                      SigningService, DATABASE_URL=fuzz_database,
                                      GATEWAY_CLIENT_RATE=100000,
                                      GATEWAY_CLIENT_BURST=100000)
    admin = people.login(people.staff(["administrator"]))
    return {"base": client.base, "token": admin["tokens"]["access_token"]}


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_generated_input_gets_a_server_error(case, fuzz_target):
    headers = {"Authorization": f"Bearer {fuzz_target['token']}"}
    response = case.call(base_url=fuzz_target["base"], headers=headers)
    statuses = FUZZ_STATS.setdefault(f"{case.method} {case.path}", {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    assert response.status_code < 500 or case.path == "/health/ready", (
        response.status_code, response.text[:500])
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type == "application/problem+json", (
            response.status_code, dict(response.headers), response.text[:300])
        assert response.json()["code"]
