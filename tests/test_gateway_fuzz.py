"""Property-based fuzzing of the gateway from its own OpenAPI document (schemathesis), against the
gateway with every backend running and an administrator's token. Every answer is checked against
the document: never a 5xx, a documented status code, a documented media type, a body that
matches the declared schema (problems included), the declared headers present, and a method the
document does not declare on a path answered 405 with `Allow`. Path parameters get the ids of
real data as examples (a record, a document, a request, a signed document...), so success
bodies are checked too, not only refusals; GET operations get more examples than the others."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from services.gateway import openapi
from services.gateway.service import GatewayService  # noqa: F401 - registers the routes
from services.records.service import RecordsService
from services.reporting.service import ReportingService
from services.requests.service import RequestsService
from services.signing.service import SigningService
from services.sync.service import SyncService
from services.verification.service import VerificationService
from shared.objectstore import FileSystemStore
from shared.testing import create_test_database, drop_test_database
from tests.document_samples import pdf_with_text
from tests.identity_helpers import rpc
from tests.test_gateway_authz import World, access_request_body, client_body

ADMIN_URL = os.environ.get("SIMASN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: operation -> {status: count}, printed at the end of the run (tests/conftest.py)
FUZZ_STATS: dict[str, dict[int, int]] = {}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, unsupported_method]
#: the caller's own password and contact, and the clear-screen unlock (a wrong password counts
#: on the login throttle): guessed with the token of a pegawai of their own (not the one whose
#: ids are examples), so that the guesses never touch the administrator's session
SELF_SERVICE = {"/api/me/password", "/api/me/contact", "/api/auth/unlock",
                "/api/me/integrity-pacts", "/api/me/integrity-pacts/{pact_id}/withdraw"}
# raw PDF bodies (the public signature check, uploads): random bytes, broken and real PDFs
schemathesis.openapi.media_type("application/pdf", st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda tail: b"%PDF-1.7\n" + tail, st.binary(max_size=2048)),
    st.sampled_from([pdf_with_text(marker="fuzz")])))
SETTINGS = {"deadline": None, "derandomize": True, "database": None,
            "suppress_health_check": list(HealthCheck)}
#: writes: the coverage phase's boundary cases of valid bodies only (its invalid ones all meet
#: the same body validation; the random phase still sends invalid bodies)
WRITES = schemathesis.Config.from_dict({"phases": {"coverage": {"generation": {
    "mode": "positive"}}}})


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """schemathesis 4.32 labels each operation of a lazily loaded schema by rewriting the running
    test's `_nodeid`, which pytest 9 no longer has (it keeps `_id`): give it one to rewrite."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def fuzz_database(migrated_template):
    """A database of the fuzzer's own: with an administrator's token it creates whatever the
    API lets it (clients, accounts, catalogue versions), which must not meet the other tests'
    fixed names."""
    url = create_test_database(ADMIN_URL, prefix="simasn_fuzz", template=migrated_template)
    yield url
    drop_test_database(url)


@pytest.fixture
def fuzz_target(start_gateway, fuzz_database):
    """The gateway with every backend behind it, an administrator's token, a pegawai's token
    for the self-service routes, and the ids of real data for path parameter examples."""
    client, people, config = start_gateway(
        RecordsService, RequestsService, VerificationService, SigningService, ReportingService,
        SyncService, DATABASE_URL=fuzz_database, GATEWAY_CLIENT_RATE=100000,
        GATEWAY_CLIENT_BURST=100000)
    world = World(people, config)
    return {"base": client.base, "token": world.token("administrator"),
            "self_token": world.clone("pegawai")["tokens"]["access_token"],
            "examples": real_ids(world)}


def real_ids(world: World) -> dict[str, dict[str, str]]:
    """Path parameter examples, per path prefix: data that exists, so the fuzzer gets success
    answers to check and not only 404s."""
    nip = world.logins["pegawai"]
    record = world.records("administrator").get_employee(nip)
    sha = world.uploaded_document()
    world.records("administrator").attach_document(nip, {
        "slot": "ktp", "sha256": sha, "expected_version": record["version"], "reason": "KTP"})
    request_id, _ = world.service_request("submitted", "administrator")
    document = world.signed_document(f"request:{request_id}")
    with rpc(world.config, world.context("fasilitator_own")) as identity:
        access_request = identity.request_access(access_request_body())["request_id"]
    with rpc(world.config, world.context("fasilitator_own"), service="verification") as cases:
        case = cases.report_fake_document({"request_id": request_id, "document": "kk",
                                           "note": "cap ditempel"})["case_id"]
    stored = FileSystemStore(world.config["DOCUMENT_ROOT"]).put(
        b"nip,name,date_of_birth,gender,status\n123,X,1990-01-01,L,PNS\n")
    job = world.records("administrator").start_import(
        {"opd_id": "dinkes", "sha256": stored.sha256, "file_name": "impor.csv"})["import_id"]
    review = world.admin_call("generate_access_review", {"stale_days": 90})["review_id"]
    client = world.admin_call("register_client", client_body())["client_id"]
    other_session = world.people.login(world.logins["administrator"])["tokens"]["session_id"]
    common = {"nip": nip, "account_id": nip, "sha256": sha, "field": "name", "kode": "KGB",
              "year": 2026, "request_id": request_id, "document": "kk",
              "document_id": document["document_id"], "review_id": review,
              "client_id": client, "session_id": other_session, "case_id": case,
              "import_id": job}
    data_request = world.data_request("administrator", "released")
    return {"/api/access-requests/": {"request_id": access_request},
            "/api/data-requests/": {"request_id": data_request},
            "/api/me/consents/": {"request_id": data_request},
            "/api/reports/": {"name": "headcount"}, "": common}


def with_examples(target) -> dict:
    """The gateway's own document, with the real ids as path parameter examples."""
    document = openapi.document()
    paths = {}
    for path, operations in document["paths"].items():
        examples = {}
        for prefix, values in sorted(target["examples"].items()):  # the longest wins
            if path.startswith(prefix):
                examples = {**examples, **values}
        paths[path] = {method: {**operation, "parameters": [
            {**p, "example": examples[p["name"]]} if p["in"] == "path" and p["name"] in examples
            else p for p in operation.get("parameters", [])]}
            for method, operation in operations.items()}
    return {**document, "paths": paths}


@pytest.fixture
def read_schema(fuzz_target):
    return schemathesis.openapi.from_dict(with_examples(fuzz_target))


@pytest.fixture
def write_schema(fuzz_target):
    return schemathesis.openapi.from_dict(with_examples(fuzz_target), config=WRITES)


def call_and_check(case, target):
    token = target["self_token"] if case.path in SELF_SERVICE else target["token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(base_url=target["base"], headers=headers)
    statuses = FUZZ_STATS.setdefault(f"{case.method} {case.path}", {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    case.validate_response(response, checks=CHECKS, headers=headers,
                           transport_kwargs={"base_url": target["base"], "headers": headers})


@schemathesis.pytest.from_fixture("read_schema").include(method="GET").parametrize()
@settings(max_examples=40, **SETTINGS)
def test_every_get_answer_is_what_the_document_declares(case, fuzz_target):
    call_and_check(case, fuzz_target)


# logging out would end the administrator's session for every later example
@schemathesis.pytest.from_fixture("write_schema").exclude(method="GET").exclude(
    path="/api/auth/logout").parametrize()
@settings(max_examples=15, **SETTINGS)
def test_every_other_answer_is_what_the_document_declares(case, fuzz_target):
    call_and_check(case, fuzz_target)
