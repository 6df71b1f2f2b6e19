"""The OpenAPI 3 document, generated from the gateway's route table and the marshmallow
contracts — never written by hand, so it cannot drift from what the gateway enforces."""

from __future__ import annotations

import re
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.gateway.domain import STATE_CHANGING
from services.gateway.http import ROUTES
from services.gateway.schemas import ProblemSchema

_ERRORS = {
    "400": "Permintaan tidak sah", "401": "Belum masuk atau token tidak sah",
    "403": "Peran tidak diizinkan", "404": "Tidak ditemukan atau di luar OPD Anda",
    "409": "Konflik data", "413": "Terlalu besar", "415": "Bukan JSON",
    "422": "Data tidak valid", "423": "Akun terkunci", "429": "Terlalu banyak permintaan",
}


#: every state-changing operation takes one (docs/design/architecture.md, "Idempotency-Key")
IDEMPOTENCY_KEY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Kunci pilihan klien (mis. UUID) untuk mengirim ulang permintaan ini dengan "
                   "aman: permintaan yang sama dengan kunci yang sama dijawab seperti yang "
                   "pertama tanpa dijalankan lagi; kunci yang sama untuk permintaan lain "
                   "dijawab 409 idempotency_key_reused.",
    "schema": {"type": "string", "minLength": 8, "maxLength": 100,
               "pattern": "^[A-Za-z0-9._:-]{8,100}$"}}


def _path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@cache
def document() -> dict:
    spec = APISpec(
        title="SIMASN Jatim API", version="0.1.0", openapi_version="3.0.3",
        info={"description": "Sistem Informasi Manajemen ASN Terintegrasi Pemerintah Provinsi "
                             "Jawa Timur (Pergub Jatim 73/2020). Semua galat berbentuk RFC 7807 "
                             "application/problem+json dengan `code` yang stabil."},
        plugins=[MarshmallowPlugin()],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.schema("Problem", schema=ProblemSchema)
    problem = {"content": {"application/problem+json": {"schema": "Problem"}}}
    for route in ROUTES:
        operation: dict = {
            "operationId": route.name, "summary": route.summary, "tags": [route.tag],
            "responses": {},
        }
        params = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", route.path)
        operation["parameters"] = [
            {"in": "path", "name": p, "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 100}} for p in params]
        if route.query is not None:
            operation["parameters"].append({"in": "query", "schema": route.query})
        if route.method in STATE_CHANGING:
            operation["parameters"].append(IDEMPOTENCY_KEY_HEADER)
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": route.body}}}
        if route.upload is not None:
            operation["requestBody"] = {
                "required": True,
                "description": f"isi berkas apa adanya (maksimal {route.upload // (1 << 20)} MB)",
                "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                            for kind in route.upload_types}}
        if route.roles is not None:
            operation["security"] = [{"bearer": []}]
            operation["x-roles"] = list(route.roles)
        if route.response is None:
            operation["responses"]["204"] = {"description": "Berhasil"}
        else:
            schema = {"type": "array", "items": route.response} if route.many else route.response
            operation["responses"][str(route.status)] = {
                "description": "Berhasil", "content": {"application/json": {"schema": schema}}}
        for status, text in _ERRORS.items():
            operation["responses"][status] = {"description": text, **problem}
        operation["responses"]["500"] = {"description": "Galat server", **problem}
        spec.path(path=_path(route.path), operations={route.method.lower(): operation})
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
