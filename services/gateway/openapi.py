"""The OpenAPI 3 document, generated from the gateway's route table and the marshmallow
contracts — never written by hand, so it cannot drift from what the gateway enforces.

Each operation's answers are derived from its route declaration (services/gateway/http.py
`endpoint`): the success answer (JSON with its schema, 204 without content, or the raw media
types it streams), and the errors it can give — 401/403 only when it needs a token, 404 when its
path names something, 400/415/422 for a JSON body, 422 for a query, 415 for an upload whose
types the gateway checks, and on every route what the HTTP plumbing may answer before the
handler (408 a body sent too slowly, 413 a body over the route's limit, 429 the client's rate,
503 too many bodies at once or a backend not answering, 500 a crash) — plus the route's own
`errors` (a 409 conflict, a 404 for an id in the body, a login's 401/403); a state-changing
route whose service records keys (`idempotent=True`) takes an `Idempotency-Key` header and may
answer 409 `idempotency_key_reused` and 422 for a malformed key. `x-roles` are the roles that
can get a 2xx, `x-scope` the scope a machine client's agreement must grant. The suite validates
the document (openapi-spec-validator) and checks live answers against it (schemathesis in
tests/test_gateway_fuzz.py, every answer of the authorization matrix in
tests/test_gateway_authz.py)."""

from __future__ import annotations

import re
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields

from services.gateway.http import MAX_JSON_BYTES, ROUTES, RouteSpec
from services.gateway.schemas import ProblemSchema
from shared.contracts.sync import CONTENT_SHA256
from shared.contracts.sync import SIGNED_HEADERS as REGION_HEADERS

PARAM = re.compile(r"<(?:([a-z]+):)?([a-z_0-9]+)>")
BINARY = {"type": "string", "format": "binary"}
UUID = {"type": "string", "format": "uuid"}
#: path parameters by name: what a valid one looks like (anything else is not found: 404)
PATH_PARAMETERS = {
    "nip": {"type": "string", "pattern": r"^\d{18}$", "description": "NIP (18 digit)"},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
               "description": "SHA-256 isi dokumen"},
    "kode": {"type": "string", "pattern": "^[A-Z_]{2,40}$", "description": "kode layanan"},
    "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
    "request_id": UUID, "document_id": UUID, "review_id": UUID, "case_id": UUID,
    "session_id": UUID, "import_id": UUID,
}
OTHER_PARAMETER = {"type": "string", "minLength": 1, "maxLength": 120}
#: the media types a route may stream, and the schema of each
RAW_SCHEMAS = {"text/html": {"type": "string"},
               "application/json": {"type": "object", "description": "dokumen OpenAPI 3"}}
ERRORS = {
    400: "Badan permintaan bukan JSON yang sah (`invalid_json`), atau permintaan ditolak "
         "layanan",
    401: "Belum masuk, token tidak sah atau kedaluwarsa, atau kredensial salah",
    403: "Peran atau cakupan OPD Anda tidak diizinkan",
    404: "Tidak ditemukan, atau di luar hak Anda (jawabannya sengaja sama)",
    408: "Badan permintaan tidak selesai dikirim tepat waktu (`request_timeout`)",
    409: "Konflik: data telah berubah (versi), sudah diputuskan, atau sudah ada",
    410: "Sudah kedaluwarsa: berkas tidak lagi diserahkan (`export_expired`)",
    413: "Badan permintaan terlalu besar",
    415: "Jenis konten tidak didukung",
    422: "Data tidak valid (isian, kueri, atau aturan layanan)",
    429: "Terlalu banyak permintaan; tunggu sesuai header Retry-After",
    500: "Galat server (tanpa rincian; laporkan dengan request_id)",
    503: "Layanan di belakang gateway tidak menjawab, basis data tidak tersedia, atau gateway "
         "sedang menerima terlalu banyak unggahan",
}
#: what the HTTP plumbing may answer on any route, before or around its handler
ALWAYS = {408, 413, 429, 500, 503}
REQUEST_ID = {"X-Request-Id": {"description": "id permintaan (dari klien bila wajar, atau "
                                              "dibuat gateway); juga di log",
                               "required": True, "schema": {"type": "string"}}}


#: every operation whose service records keys takes one (docs/design/architecture.md,
#: "Idempotency-Key"); elsewhere the header is not passed on
IDEMPOTENCY_KEY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Kunci pilihan klien (mis. UUID) untuk mengirim ulang permintaan ini dengan "
                   "aman: permintaan yang sama dengan kunci yang sama dijawab seperti yang "
                   "pertama tanpa dijalankan lagi; kunci yang sama untuk permintaan lain "
                   "dijawab 409 idempotency_key_reused; kunci yang tidak sah 422.",
    "schema": {"type": "string", "minLength": 8, "maxLength": 100,
               "pattern": "^[A-Za-z0-9._:-]{8,100}$"}}


def path_of(route: RouteSpec) -> str:
    """The route's path as OpenAPI writes it: `{name}` for every parameter."""
    return PARAM.sub(r"{\2}", route.path)


def error_statuses(route: RouteSpec) -> list[int]:
    """The error statuses `route` can answer, derived from its declaration (see above)."""
    statuses = {*ALWAYS, *route.errors}
    if route.roles is not None:
        statuses |= {401, 403}
    if route.signed:
        statuses.add(401)
    if route.body is not None:
        statuses |= {400, 415, 422}
    if route.query is not None:
        statuses.add(422)
    if route.upload is not None:
        statuses.add(422)  # an empty file, or one the checks refuse
        if (route.in_memory or route.streamed) and route.upload_types:
            statuses.add(415)
    if PARAM.search(route.path) and not route.signed:
        # a signed route's path names the region whose key signs it: another region is 401
        statuses.add(404)
    if route.idempotent:
        statuses |= {409, 422}  # Idempotency-Key reused for another request, or malformed
    return sorted(statuses)


#: component name -> the schema class that has it (filled while the document is made)
_NAMES: dict[str, type] = {}


def _schema_name(schema) -> str:
    """A component name per schema class; a name two contracts share gets its module's."""
    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema")
    owner = _NAMES.setdefault(name, cls)
    if owner is cls:
        return name
    return cls.__module__.rsplit(".", 1)[-1].capitalize() + name


def _dict_sizes(self, field, ret, **_) -> dict:
    """A `Length` on a dict bounds its number of entries (apispec would write maxLength)."""
    if not isinstance(field, fields.Dict):
        return {}
    sizes = {"minLength": "minProperties", "maxLength": "maxProperties"}
    return {sizes[key]: ret.pop(key) for key in list(ret) if key in sizes}


def _success(route: RouteSpec) -> tuple[str, dict]:
    if route.media:
        content = {m: {"schema": RAW_SCHEMAS.get(m, BINARY)} for m in route.media}
        answer = {"description": "Berhasil", "headers": dict(REQUEST_ID), "content": content}
        if all(schema == {"schema": BINARY} for schema in content.values()):
            answer["description"] = "Isi berkas (dicatat sebelum dikirim)"
            answer["headers"]["Content-Disposition"] = {
                "description": "attachment; filename=...", "required": True,
                "schema": {"type": "string"}}
        return str(route.status), answer
    if route.response is None:
        return "204", {"description": "Berhasil, tanpa isi", "headers": REQUEST_ID}
    schema = {"type": "array", "items": route.response} if route.many else route.response
    return str(route.status), {"description": "Berhasil", "headers": REQUEST_ID,
                               "content": {"application/json": {"schema": schema}}}


def _errors(route: RouteSpec) -> dict:
    problem = {"application/problem+json": {"schema": "Problem"}}
    out = {}
    for status in error_statuses(route):
        text = ERRORS[status]
        if status == 413:
            text += (f" (berkas maksimal {route.upload // (1 << 20)} MB)" if route.upload
                     else f" (maksimal {MAX_JSON_BYTES // 1024} KB)")
        headers = dict(REQUEST_ID)
        if status == 429:
            headers["Retry-After"] = {"description": "detik", "required": True,
                                      "schema": {"type": "integer", "minimum": 1}}
        out[str(status)] = {"description": text, "headers": headers, "content": problem}
    return out


def _operation(route: RouteSpec) -> dict:
    operation: dict = {"operationId": route.name, "summary": route.summary, "tags": [route.tag],
                       "parameters": [
                           {"in": "path", "name": name, "required": True,
                            "schema": PATH_PARAMETERS.get(name, OTHER_PARAMETER)}
                           for _, name in PARAM.findall(route.path)]}
    if route.query is not None:
        operation["parameters"].append({"in": "query", "schema": route.query})
    if route.idempotent:
        operation["parameters"].append(IDEMPOTENCY_KEY_HEADER)
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": route.body}}}
    if route.upload is not None:
        operation["requestBody"] = {
            "required": True,
            "description": f"isi berkas apa adanya (maksimal {route.upload // (1 << 20)} MB)",
            "content": {kind: {"schema": BINARY} for kind in route.upload_types}}
    if route.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["x-roles"] = list(route.roles)
        if route.scope:  # what a machine client's agreement must grant (issue 17)
            operation["x-scope"] = route.scope
    if route.signed:
        operation["security"] = [{"region_hmac": []}]
        operation["parameters"] += [{"in": "header", "name": name, "required": True,
                                     "schema": {"type": "string"}}
                                    for name in REGION_HEADERS
                                    if name != "X-Simasn-Batch-Id" or route.method == "POST"]
        if route.streamed:  # signed over the body's digest, not the body (docs/design/sync.md)
            operation["parameters"].append({
                "in": "header", "name": CONTENT_SHA256, "required": True,
                "description": "SHA-256 isi berkas (heksadesimal), yang ditandatangani",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}})
    status, answer = _success(route)
    operation["responses"] = {status: answer, **_errors(route)}
    return operation


@cache
def document() -> dict:
    _NAMES.clear()
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="SIMASN Jatim API", version="0.1.0", openapi_version="3.0.3",
        info={"description": "Sistem Informasi Manajemen ASN Terintegrasi Pemerintah Provinsi "
                             "Jawa Timur (Pergub Jatim 73/2020). Semua galat berbentuk RFC 7807 "
                             "application/problem+json dengan `code` yang stabil; setiap "
                             "jawaban membawa header X-Request-Id. Metode yang tidak tercantum "
                             "untuk sebuah alamat dijawab 405 dengan header Allow; alamat yang "
                             "tidak ada dijawab 404."},
        plugins=[plugin],
    )
    plugin.converter.add_attribute_function(_dict_sizes)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.security_scheme("region_hmac", {
        "type": "apiKey", "in": "header", "name": "X-Simasn-Signature",
        "description": "HMAC-SHA256 kunci daerah atas X-Simasn-Timestamp, baris baru, "
                       "X-Simasn-Batch-Id (GET: metode dan path), baris baru, badan permintaan "
                       "(docs/design/sync.md)"})
    spec.components.schema("Problem", schema=ProblemSchema)
    by_path: dict[str, dict] = {}
    for route in ROUTES:
        by_path.setdefault(path_of(route), {})[route.method.lower()] = _operation(route)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


DOCS_PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>SIMASN Jatim API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2rem}.op{border-top:1px solid #ddd;padding:.6rem 0}
.m{display:inline-block;width:4.5rem;font-weight:bold}.roles{color:#555;font-size:.9em}</style>
</head><body><h1>SIMASN Jatim API</h1>
<p>Dokumen mesin: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3).
Galat: RFC 7807 <code>application/problem+json</code>.</p><div id="ops">Memuat…</div>
<script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const out = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const roles = op['x-roles'] ? 'peran: ' + op['x-roles'].join(', ') : 'publik';
      out.push(`<div class="op"><span class="m">${method.toUpperCase()}</span>` +
        `<code>${path}</code> — ${op.summary} <span class="roles">(${roles})</span></div>`);
    }
  }
  document.getElementById('ops').innerHTML = out.join('');
});
</script></body></html>
"""
