"""Every error status the API document declares for an operation is answered by that operation,
with that status and as application/problem+json, on the deployed stack (issue 12: "every
documented error code of every route answered with its documented status at least once").

The operations and their statuses come from the running gateway's own document, so a route
added later is covered without touching this file. Statuses are provoked the way a client
would: no token or another role's token (401/403), an id that does not exist (404), a body that
is not JSON, of the wrong type, too big, too slow or of the wrong shape (400/415/413/408/422), a
burst (429), the gateway's body budget held by one slow upload (503). 409 needs each operation's
own conflict: tests/e2e/test_deployed_conflicts.py. 500 is declared because any route can
crash; the fuzzer (tests/test_gateway_fuzz.py) proves none answers it, so it is not provoked."""

from __future__ import annotations

import json
import re
import socket
import time
from collections import defaultdict
from urllib.parse import quote

import eventlet
import pytest

from shared.testing import wait_for
from tests.e2e.harness import NEW_PASSWORD, activate

pytestmark = pytest.mark.timeout(600)
METHODS = ("get", "post", "put", "delete", "patch")
ROLES = ("pegawai", "fasilitator", "administrator", "auditor", "machine")
#: statuses not provoked here, and why (the module docstring)
ELSEWHERE = {"409": "tests/e2e/test_deployed_conflicts.py", "500": "never provoked: a crash",
             # a data request's file past its end (needs a whole approved, consented release)
             "410": "tests/e2e/test_deployed_conflicts.py::test_a_data_request_is_decided_"
                    "consented_and_released_once"}
MISSING = {  # well-formed values that name nothing
    "nip": "199001012020121999", "sha256": "0" * 64, "kode": "TIDAK_ADA",
    "account_id": "tidak.ada", "client_id": "tidak-ada", "field": "address",
    "document": "skp_1_tahun", "item_id": "request:00000000-0000-4000-8000-000000000000",
    "notification_id": "00000000-0000-4000-8000-000000000000", "year": "1999",
    "region": "3501", "sequence": "999999",  # a kabupaten no test onboards
}
UUID = "00000000-0000-4000-8000-000000000000"


class Raw:
    """One HTTP/1.1 exchange over a socket, with exactly the headers and body given."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))

    def send(self, method: str, path: str, headers: dict | None = None, body: bytes = b"",
             declared: int | None = None, timeout: float = 30,
             patient: bool = True) -> tuple[int, dict, dict | None]:
        """`patient`: a 429 from the per-client rate limit (every test request comes from
        127.0.0.1) is waited out and the request sent again, as a well-behaved client does."""
        for _ in range(20):
            answer = self._send(method, path, headers, body, declared, timeout)
            if not patient or answer[0] != 429:
                return answer
            eventlet.sleep(float(answer[1].get("retry-after", "1")))
        return answer

    def _send(self, method, path, headers, body, declared, timeout):
        head = [f"{method.upper()} {path} HTTP/1.1", "Host: simasn", "Connection: close"]
        length = len(body) if declared is None else declared
        if body or declared is not None:
            head.append(f"Content-Length: {length}")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        with socket.create_connection(self.address, timeout=timeout) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            raw = b""
            while True:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, TimeoutError):
                    break
                if not chunk:
                    break
                raw += chunk
        status_line, _, rest = raw.partition(b"\r\n")
        header_block, _, payload = rest.partition(b"\r\n\r\n")
        parsed = {}
        for line in header_block.split(b"\r\n"):
            key, _, value = line.decode(errors="replace").partition(":")
            parsed[key.strip().lower()] = value.strip()
        status = int(status_line.split()[1]) if status_line else 0
        try:
            body_json = json.loads(payload) if payload else None
        except ValueError:
            body_json = None
        return status, parsed, body_json


def minimal(schema: dict, components: dict, name: str = "") -> object:
    """The smallest value a JSON schema of the API document accepts (what a careful client
    sends), so a request passes validation and reaches the service's own 404."""
    from hypothesis import strategies

    if "$ref" in schema:
        return minimal(components[schema["$ref"].rsplit("/", 1)[-1]], components, name)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            return minimal(schema[key][0], components, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        out = {k: minimal(v, components, k) for k, v in schema.get("properties", {}).items()
               if k in schema.get("required", ())}
        extra = schema.get("additionalProperties")
        for i in range(schema.get("minProperties", 0) - len(out)):
            out[f"k{i}"] = minimal(extra if isinstance(extra, dict) else {"type": "string"},
                                   components)
        return out
    if kind == "array":
        return [minimal(schema.get("items", {"type": "string"}), components, name)
                for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-01-02"
    if fmt == "date-time":
        return "2026-01-02T03:04:05+07:00"
    if fmt == "uuid":
        return UUID
    if fmt == "email":
        return "uji@mail.test"
    if name in MISSING:
        return MISSING[name]
    if "pattern" in schema:
        return strategies.from_regex(schema["pattern"], fullmatch=True).example()
    return "x" * max(schema.get("minLength", 1), 3)


class Matrix:
    def __init__(self, stack, doc):
        self.stack, self.raw = stack, Raw(stack.url)
        self.ops = [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()
                    if m in METHODS]
        self.components = doc["components"]["schemas"]
        self.seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.tokens: dict[str, str] = {}

    def declared(self, method, path, op) -> set[str]:
        return {s for s in op["responses"] if s[0] in "45" and s not in ELSEWHERE}

    def record(self, method, path, status, headers) -> None:
        if status >= 400:
            assert headers.get("content-type") == "application/problem+json", (method, path,
                                                                               status)
        self.seen[(method, path)].add(str(status))

    def concrete(self, path: str, values: dict | None = None) -> str:
        values = {**MISSING, **(values or {})}
        return re.sub(r"\{(\w+)\}", lambda m: quote(values.get(m.group(1), UUID), safe=":"),
                      path)

    def valid_body(self, op) -> bytes:
        schema = op.get("requestBody", {}).get("content", {}).get("application/json")
        return json.dumps(minimal(schema["schema"], self.components)).encode() if schema else b""

    @staticmethod
    def json_body(op) -> bool:
        return "application/json" in op.get("requestBody", {}).get("content", {})

    @staticmethod
    def upload_types(op) -> list[str]:
        content = op.get("requestBody", {}).get("content", {})
        return [t for t in content if t != "application/json"]

    def token_for(self, role: str) -> str:
        return self.tokens[role]

    def allowed_role(self, op) -> str | None:
        roles = op.get("x-roles") or []
        for role in ("administrator", "fasilitator", "pegawai", "auditor", "machine"):
            if role in roles:
                return role
        return None

    def auth(self, role: str | None) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    @staticmethod
    def signed(op) -> bool:
        return {"region_hmac": []} in (op.get("security") or [])

    def region_headers(self, method: str, url: str, body: bytes) -> dict:
        """What a region's client sends on a signed route (docs/design/sync.md): its key and
        an HMAC over the time, the batch id (a GET: method and path) and the body."""
        from tests.sync_helpers import region_client

        stamp, batch = str(int(time.time())), f"matriks-{time.monotonic_ns()}"
        second = batch if method == "post" else f"GET {url}"
        headers = {"X-Simasn-Region": self.region.code, "X-Simasn-Key-Id": self.region.key_id,
                   "X-Simasn-Timestamp": stamp,
                   "X-Simasn-Signature": region_client.signature(self.region.secret, stamp,
                                                                 second, body)}
        if method == "post":
            headers["X-Simasn-Batch-Id"] = batch
        return headers

    def missing(self) -> dict[tuple[str, str], set[str]]:
        out = {}
        for method, path, op in self.ops:
            left = self.declared(method, path, op) - self.seen[(method, path)]
            if left:
                out[(method, path)] = left
        return out


@pytest.fixture(scope="module")
def matrix(stack):
    client = stack.client()
    doc = client.call("GET", "/api/openapi.json").body
    m = Matrix(stack, doc)
    seeded_pegawai = next(n for n, opd in stack.seeded.pegawai.items() if opd == "dinkes")
    for role, login in (("pegawai", seeded_pegawai), ("fasilitator", "fas.dinkes1"),
                        ("administrator", "admin.bkd"), ("auditor", "auditor.inspektorat")):
        m.tokens[role] = stack.login(login)
    admin = m.tokens["administrator"]
    client_answer = client.call("POST", "/api/clients", token=admin, body={
        "client_kind": "kabkota", "kabkota_code": "3578", "client_id": "e2e-surabaya",
        "agreement_kind": "PKS", "agreement_number": "PKS/001/2026",
        # every scope a machine route names, so that each route's 422 is reached (a missing
        # scope is refused before the query is read); the agency routes' terms (issue 17)
        "scopes": ["sync:push", "records:read", "agency:list", "agency:read"],
        "allowed_fields": ["name"], "population_instansi": ["3578"], "purposes": ["uji-e2e"],
        "valid_from": "2026-01-01", "valid_until": "2030-12-31", "reason": "PKS pertukaran data"})
    assert client_answer.status == 201, client_answer.body
    secret = client_answer.body["client_secret"]
    machine = client.call("POST", "/api/auth/token", body={
        "client_id": client_answer.body["client_id"], "client_secret": secret})
    assert machine.status == 200, machine.body
    m.tokens["machine"] = machine.body["access_token"]
    from tests.sync_helpers import onboard

    m.region = onboard(client, admin, "3578")  # the kabupaten/kota whose key signs its routes
    return m


def _each(matrix, status: str):
    for method, path, op in matrix.ops:
        if status in matrix.declared(method, path, op):
            yield method, path, op


def test_400_415_413_422_as_a_client_sends_them(matrix):
    for method, path, op in matrix.ops:
        declared = matrix.declared(method, path, op)
        role = matrix.allowed_role(op)
        url = matrix.concrete(path)
        if matrix.signed(op):  # a region's own route: its body is judged once it is signed
            url = matrix.concrete(path, {"region": matrix.region.code})
            if matrix.upload_types(op):  # a snapshot: signed over its digest
                _snapshot_refusals(matrix, method, path, url)
                declared = declared - {"415"}
            elif method == "get" and "422" in declared:  # a signed read's query is not signed
                s, h, _ = matrix.raw.send(method, url + "?zz_not_a_param=1",
                                          matrix.region_headers(method, url, b""))
                matrix.record(method, path, s, h)
            else:
                for status, body in (("400", b"{"), ("422", b'{"zz_not_a_field": 1}')):
                    if status in declared:
                        s, h, _ = matrix.raw.send(method, url, {
                            "Content-Type": "application/json",
                            **matrix.region_headers(method, url, body)}, body)
                        matrix.record(method, path, s, h)
            declared = declared - {"400", "422"}
        if "400" in declared and matrix.json_body(op):
            s, h, _ = matrix.raw.send(method, url, {"Content-Type": "application/json",
                                                    **matrix.auth(role)}, b"{")
            matrix.record(method, path, s, h)
        if "415" in declared:
            s, h, _ = matrix.raw.send(method, url, {"Content-Type": "text/plain",
                                                    **matrix.auth(role)}, b"x")
            matrix.record(method, path, s, h)
        if "413" in declared:
            s, h, _ = matrix.raw.send(method, url, {"Content-Type": "application/json",
                                                    **matrix.auth(role)}, declared=1 << 31)
            matrix.record(method, path, s, h)
        if "422" in declared:
            if matrix.json_body(op):
                s, h, _ = matrix.raw.send(method, url, {"Content-Type": "application/json",
                                                        **matrix.auth(role)},
                                          b'{"zz_not_a_field": 1}')
            else:
                types = matrix.upload_types(op)
                headers = {"Content-Type": types[0]} if types else {}
                s, h, _ = matrix.raw.send(method, url + "?zz_not_a_param=1",
                                          {**headers, **matrix.auth(role)},
                                          b"%PDF-1.4" if types else b"")
            matrix.record(method, path, s, h)
    s, h, _ = matrix.raw.send("post", "/api/public/verification",
                              {"Content-Type": "application/pdf"}, b"", declared=0)
    matrix.record("post", "/api/public/verification", s, h)
    s, h, _ = matrix.raw.send("post", "/api/verification/queue/" + "x" * 121 + "/claim",
                              matrix.auth("fasilitator"))
    matrix.record("post", "/api/verification/queue/{item_id}/claim", s, h)
    # a chart's 422 needs a report that exists (any other name is 404): an unknown format, a
    # list of persons (not a statistic)
    for query, code in (("format=gif", "validation_failed"), ("format=svg", "not_a_statistic")):
        s, h, b = matrix.raw.send("get", f"/api/reports/employees/chart?{query}",
                                  matrix.auth("administrator"))
        assert (s, (b or {}).get("code")) == (422, code), (query, s, b)
        matrix.record("get", "/api/reports/{name}/chart", s, h)
    # a report's parameters are checked against that report's own schema (the name first: an
    # unknown one is 404 whatever its parameters)
    for query, field in (("duk?limit=0", "limit"), ("headcount?by=nip", "by"),
                         ("nominatif?as_of=kemarin", "as_of"), ("duk?zz_not_a_param=1",
                                                                 "zz_not_a_param")):
        s, h, b = matrix.raw.send("get", f"/api/reports/{query}", matrix.auth("administrator"))
        assert (s, (b or {}).get("field")) == (422, field), (query, s, b)
        matrix.record("get", "/api/reports/{name}", s, h)
    for status in ("400", "415", "413", "422"):
        left = {k: v for k, v in matrix.missing().items() if status in v}
        assert not left, f"{status} not answered by {sorted(left)}"


def _snapshot_refusals(matrix, method, path, url):
    """A region's snapshot, signed over its body's SHA-256: a body whose digest is not the one
    signed (422), a media type that is neither CSV nor JSON lines (415)."""
    import hashlib

    from tests.sync_helpers import region_client

    body = b"nip,nama\n"
    region = matrix.region
    for digest, media in ((hashlib.sha256(b"lain").hexdigest(), "text/csv"),
                          (hashlib.sha256(body).hexdigest(), "text/plain")):
        headers = region_client.snapshot_headers(region.code, region.key_id, region.secret,
                                                 digest)
        s, h, _ = matrix.raw.send(method, url, {"Content-Type": media, **headers}, body)
        matrix.record(method, path, s, h)


def test_401_403_404_by_who_asks_and_for_what(matrix, stack, client):
    for method, path, op in matrix.ops:
        declared = matrix.declared(method, path, op)
        url = matrix.concrete(path)
        body = b"{}" if matrix.json_body(op) else b""
        headers = {"Content-Type": "application/json"} if body else {}
        if "401" in declared and op.get("security"):
            s, h, _ = matrix.raw.send(method, url, headers, body)
            matrix.record(method, path, s, h)
        if "403" in declared and op.get("x-roles"):
            other = next((r for r in ROLES if r not in op["x-roles"]), None)
            if other:
                s, h, _ = matrix.raw.send(method, url, {**headers, **matrix.auth(other)}, body)
                matrix.record(method, path, s, h)
        if "404" in declared and "{" in path and matrix.signed(op):  # the region's own read
            url = matrix.concrete(path, {"region": matrix.region.code})
            s, h, _ = matrix.raw.send(method, url, matrix.region_headers(method, url, b""))
            matrix.record(method, path, s, h)
        elif "404" in declared and "{" in path:
            role = matrix.allowed_role(op)
            s, h, _ = matrix.raw.send(method, url, {**headers, **matrix.auth(role)},
                                      matrix.valid_body(op))
            if s != 404 and "{year}" in path:
                s, h, _ = matrix.raw.send(method, matrix.concrete(path, {"year": "abad"}),
                                          matrix.auth(role))
            matrix.record(method, path, s, h)
    _the_special_cases(matrix, stack, client)
    for status in ("401", "403", "404"):
        left = {k: v for k, v in matrix.missing().items() if status in v}
        assert not left, f"{status} not answered by {sorted(left)}"


def _post(matrix, path, role, body, query="") -> tuple[int, dict]:
    s, h, b = matrix.raw.send("post", path + query, {"Content-Type": "application/json",
                                                     **matrix.auth(role)},
                              json.dumps(body).encode())
    matrix.record("post", path, s, h)
    return s, b


def _the_special_cases(matrix, stack, client):
    """Statuses an operation answers for reasons other than its path and roles."""
    admin = matrix.tokens["administrator"]
    # the QR code's page answers any document id the signing service could have made (the
    # page then shows the verdict, "TIDAK SAH" for one it never made); another id is 404
    s, h, _ = matrix.raw.send("get", "/verifikasi/bukan-id-dokumen", {}, b"")
    matrix.record("get", "/verifikasi/{document_id}", s, h)
    # the public sign-in routes: wrong credentials are 401
    _post(matrix, "/api/auth/login", None, {"login": "admin.bkd", "password": "Salah-Sandi-1"})
    _post(matrix, "/api/auth/refresh", None, {"refresh_token": "x" * 40})
    _post(matrix, "/api/auth/totp/confirm", None, {"enrollment_token": "x" * 40,
                                                   "otp": "123456"})
    _post(matrix, "/api/auth/password-reset", None, {"token": "x" * 40,
                                                     "new_password": "Rawon-Setan-2026"})
    _post(matrix, "/api/auth/token", None, {"client_id": "tidak-ada",
                                            "client_secret": "salah"})
    # 403: a disabled account cannot sign in; a revoked client gets no token
    nip = next(n for n, opd in stack.seeded.pegawai.items() if opd == "dindik")
    disabled = client.call("POST", f"/api/accounts/{nip}/disable", token=admin,
                           body={"reason": "diberhentikan sementara"})
    assert disabled.status == 200, disabled.body
    _post(matrix, "/api/auth/login", None, {"login": nip, "password": stack.seeded.password})
    revoked = client.call("POST", "/api/clients", token=admin, body={
        "client_kind": "agency", "client_id": "e2e-dicabut", "agreement_kind": "MoU",
        "agreement_number": "MoU/009/2026", "scopes": ["records:read"],
        "valid_from": "2026-01-01", "valid_until": "2030-12-31", "reason": "MoU data pegawai"})
    assert revoked.status == 201, revoked.body
    gone = revoked.body["client_id"]
    assert client.call("POST", f"/api/clients/{gone}/revoke", token=admin,
                       body={"reason": "perjanjian berakhir"}).status == 200
    _post(matrix, "/api/auth/token", None, {"client_id": gone,
                                            "client_secret": revoked.body["client_secret"]})
    # the agency web services (issue 17): an employee the agreement's population does not
    # hold (or nobody has) is 404 to an agency whose agreement has the scope and the purpose
    agency = client.call("POST", "/api/clients", token=admin, body={
        "client_kind": "agency", "client_id": "e2e-instansi", "agreement_kind": "PKS",
        "agreement_number": "PKS/017/2026", "scopes": ["agency:read"],
        "allowed_fields": ["name"], "population_instansi": ["35"], "purposes": ["uji-e2e"],
        "valid_from": "2026-01-01", "valid_until": "2030-12-31", "reason": "PKS data pegawai"})
    assert agency.status == 201, agency.body
    agency_token = client.call("POST", "/api/auth/token", body={
        "client_id": "e2e-instansi", "client_secret": agency.body["client_secret"]}).body[
        "access_token"]
    s, h, _ = matrix.raw.send("get", f"/api/agency/employees/{MISSING['nip']}?purpose=uji-e2e",
                              {"Authorization": f"Bearer {agency_token}"})
    assert s == 404, s
    matrix.record("get", "/api/agency/employees/{nip}", s, h)
    # 403 on /api/me: a staff account left without any role
    login = "fas.dishub9"
    granted = client.call("POST", "/api/accounts", token=admin, body={
        "login": login, "display_name": "Rini Astuti", "email": f"{login}@dishub.jatimprov.go.id",
        "roles": ["fasilitator"], "opd_scope": ["dishub"], "reason": "SK penunjukan"})
    assert granted.status == 201, granted.body
    activate(stack, f"{login}@dishub.jatimprov.go.id")
    first = client.call("POST", "/api/auth/login", body={"login": login,
                                                         "password": NEW_PASSWORD}).body
    import pyotp

    token = client.call("POST", "/api/auth/totp/confirm", body={
        "enrollment_token": first["enrollment_token"],
        "otp": pyotp.TOTP(first["totp_secret"]).now()}).body["access_token"]
    assert client.call("POST", f"/api/accounts/{login}/roles/revoke", token=admin, body={
        "role": "fasilitator", "reason": "mutasi"}).status == 200
    s, h, _ = matrix.raw.send("get", "/api/me", {"Authorization": f"Bearer {token}"})
    matrix.record("get", "/api/me", s, h)
    # 404 on operations without a path id: what they name does not exist
    s, h, _ = matrix.raw.send("post", "/api/documents?nip=199001012020121999",
                              {"Content-Type": "application/pdf", **matrix.auth("fasilitator")},
                              b"%PDF-1.4\n%%EOF\n")
    matrix.record("post", "/api/documents", s, h)
    _post(matrix, "/api/requests", "administrator",
          {"layanan": "KGB", "nip": "199001012020121999"})
    s, h, _ = matrix.raw.send("get", "/api/verification/queue?opd_id=dindik",
                              matrix.auth("fasilitator"))  # an OPD outside their scope
    matrix.record("get", "/api/verification/queue", s, h)
    _post(matrix, "/api/employees/199001012020121999/histories", "administrator", {
        "history": "kinerja", "entry": {"tahun": 2025, "predikat": "Baik"},
        "expected_version": 1, "reason": "data awal"})
    matrix.seen[("post", "/api/employees/{nip}/histories")] |= matrix.seen.pop(
        ("post", "/api/employees/199001012020121999/histories"), set())
    # a reconciliation that does not exist: decided on (a valid body, which the minimal one
    # is not: decisions or bulk), and read by a region with its own signature
    template = "/api/sync/regions/{region}/reconciliations/{reconciliation_id}/decisions"
    decisions = matrix.concrete(template)
    _post(matrix, decisions, "administrator",
          {"decisions": [{"difference_id": 1, "decision": "keep_province"}]})
    matrix.seen[("post", template)] |= matrix.seen.pop(("post", decisions), set())
    template = "/api/sync/{region}/reconciliations/{reconciliation_id}/corrections"
    corrections = matrix.concrete(template, {"region": matrix.region.code})
    s, h, _ = matrix.raw.send("get", corrections,
                              matrix.region_headers("get", corrections, b""))
    matrix.record("get", template, s, h)
    # a pegawai whose account exists but whose record BKD has not registered yet
    nip = "198502022010012001"
    email = f"{nip}@mail.test"
    assert client.call("POST", "/api/accounts", token=admin, body={
        "login": nip, "display_name": "Dewi Lestari", "email": email, "roles": ["pegawai"],
        "home_opd": "dinkes", "reason": "CPNS formasi 2010"}).status == 201
    activate(stack, email)
    newcomer = stack.login(nip, NEW_PASSWORD)
    s, h, _ = matrix.raw.send("post", f"/api/employees/{nip}/proposals",
                              {"Content-Type": "application/json",
                               "Authorization": f"Bearer {newcomer}"},
                              b'{"changes": {"address": "Jl. Diponegoro 1"}}')
    matrix.record("post", "/api/employees/{nip}/proposals", s, h)
    _post(matrix, "/api/verification/fake-documents", "fasilitator",
          {"request_id": UUID, "document": "skp_1_tahun", "note": "tidak terdaftar"})
    # the employee list refuses what it cannot serve, naming the parameter
    for query, field in (("sort=gaji", "sort"), ("limit=101", "limit"),
                         ("golongan=V/z", "golongan")):
        s, h, b = matrix.raw.send("get", f"/api/employees?{query}", matrix.auth("administrator"))
        assert (s, (b or {}).get("field")) == (422, field), (query, s, b)
        matrix.record("get", "/api/employees", s, h)
    # exports and charts (issue 15 part 5): what cannot be exported or drawn, named
    export = "/api/reports/{name}/export"
    for name, body, code, field in (
            ("employees", {"format": "docx", "purpose": "bahan rapat Baperjakat"},
             "validation_failed", "format"),
            ("employees", {"format": "csv"}, "purpose_required", "purpose"),
            ("employees", {"format": "csv", "purpose": "bahan rapat Baperjakat",
                           "params": {"sort": "gaji"}}, "validation_failed", "params.sort"),
            ("tidak_ada", {"format": "csv"}, "report_unknown", "name")):
        s, b = _post(matrix, export.replace("{name}", name), "administrator", body)
        assert (s, b.get("code"), b.get("field")) == (
            404 if code == "report_unknown" else 422, code, field), (name, body, b)
        matrix.seen[("post", export)] |= matrix.seen.pop(
            ("post", export.replace("{name}", name)), set())
    # so do monev's reports (the reporting read models), naming the parameter
    for path, query, field in (("/api/monev/completeness", "group=golongan", "group"),
                               ("/api/monev/completeness/employees", "layanan=GAJI", "layanan"),
                               ("/api/monev/completeness/trend", "from=2026-02-01&to=2026-01-01",
                                "from"),
                               ("/api/monev/workload", "year=1999", "year")):
        s, h, b = matrix.raw.send("get", f"{path}?{query}", matrix.auth("administrator"))
        assert (s, (b or {}).get("field")) == (422, field), (path, s, b)
        matrix.record("get", path, s, h)


def test_408_for_a_body_that_never_arrives(matrix):
    def slow(method, path, op):
        s, h, _ = matrix.raw.send(method, matrix.concrete(path),
                                  {"Content-Type": "application/json"}, b"{",
                                  declared=200, timeout=90)
        return method, path, s, h

    def slow_snapshot(method, path, op):
        """A snapshot is read only once signed: a signed one whose body never arrives."""
        from tests.sync_helpers import region_client

        url = matrix.concrete(path, {"region": matrix.region.code})
        headers = region_client.snapshot_headers(matrix.region.code, matrix.region.key_id,
                                                 matrix.region.secret, "0" * 64)
        s, h, _ = matrix.raw.send(method, url, {"Content-Type": "text/csv", **headers}, b"n",
                                  declared=200, timeout=90)
        return method, path, s, h

    pool = eventlet.GreenPool(100)
    for method, path, s, h in pool.imap(
            lambda a: (slow_snapshot if matrix.signed(a[2]) and matrix.upload_types(a[2])
                       else slow)(*a), list(_each(matrix, "408"))):
        matrix.record(method, path, s, h)
    left = {k: v for k, v in matrix.missing().items() if "408" in v}
    assert not left, f"408 not answered by {sorted(left)}"


def test_429_for_a_burst(matrix, stack, client):
    pending = list(_each(matrix, "429"))
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        pool = eventlet.GreenPool(200)
        burst = [("get", "/health", None)] * 120 + pending
        answers = list(pool.imap(lambda a: (a, matrix.raw.send(a[0], matrix.concrete(a[1]),
                                                               patient=False)), burst))
        for (method, path, _), (s, h, _) in answers:
            if path != "/health" or (method, path) in {(m, p) for m, p, _ in pending}:
                matrix.record(method, path, s, h)
        pending = [(m, p, o) for m, p, o in pending if "429" not in matrix.seen[(m, p)]]
    assert not pending, f"429 not answered by {[(m, p) for m, p, _ in pending]}"
    wait_for(lambda: client.call("GET", "/health").status == 200, timeout=30,
             message="the burst's bucket refilled")


def test_503_while_the_body_budget_is_held(matrix, stack, client):
    """One slow upload holds the gateway's body budget (GATEWAY_BODY_BUDGET, set small for the
    run): every request with a body is then refused at once with 503 gateway_busy."""
    budget = int(stack.env["SIMASN_GATEWAY_BODY_BUDGET"])
    holder = socket.create_connection(matrix.raw.address, timeout=60)
    holder.sendall((f"POST /api/employee-imports?opd_id=dinkes&file_name=a.csv HTTP/1.1\r\n"
                    f"Host: simasn\r\nContent-Type: text/csv\r\nAuthorization: Bearer x\r\n"
                    f"Content-Length: {budget}\r\n\r\nnip,").encode())
    try:
        def busy(method, path, op):
            return method, path, *matrix.raw.send(method, matrix.concrete(path),
                                                  {"Content-Type": "application/json"}, b"{}")

        def first_refused():
            s, _, body = matrix.raw.send("get", "/health", {}, b"{}")
            return s == 503 and body["code"] == "gateway_busy"

        wait_for(first_refused, timeout=30, message="the budget is held")
        for method, path, s, h, _ in (busy(*a) for a in _each(matrix, "503")):
            matrix.record(method, path, s, h)
    finally:
        holder.close()
    wait_for(lambda: client.call("GET", "/health").status == 200, timeout=30,
             message="the budget is released")
    left = {k: v for k, v in matrix.missing().items() if "503" in v}
    assert not left, f"503 not answered by {sorted(left)}"


def test_every_declared_status_was_answered(matrix):
    """Runs last in this file: the whole table, and what each operation answered."""
    missing = matrix.missing()
    total = sum(len(matrix.declared(m, p, o)) for m, p, o in matrix.ops)
    print(f"\n{len(matrix.ops)} operations, {total} declared error statuses "
          f"(without {', '.join(ELSEWHERE)}), {total - sum(map(len, missing.values()))} "
          "answered as declared")
    assert not missing, "declared but never answered: " + "; ".join(
        f"{m.upper()} {p}: {sorted(s)} (answered {sorted(matrix.seen[(m, p)])})"
        for (m, p), s in sorted(missing.items()))
