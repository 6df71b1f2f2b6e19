"""Running the gateway with identity behind it, and calling it over real HTTP."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict
    body: object

    @property
    def code(self):
        return self.body.get("code") if isinstance(self.body, dict) else None


class Client:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, token: str | None = None, body=None,
             headers: dict | None = None, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, method=method, data=data,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, dict(response.headers), _decode(response.read()))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), _decode(exc.read()))


def _decode(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def http_login(client: Client, people, login: str) -> str:
    """Log in through the gateway as a person would (with a fresh OTP for staff)."""
    from tests.identity_helpers import PASSWORD

    body = {"login": login, "password": PASSWORD, "device": "uji"}
    code = people.otp(login)
    if code:
        body["otp"] = code
    answer = client.call("POST", "/api/auth/login", body=body)
    assert answer.status == 200, answer.body
    return answer.body["access_token"]


def conformance_problems(method: str, rule: str, answer: Answer) -> list[str]:
    """What in one answer the gateway's OpenAPI document does not declare: its status, its media
    type, or (for JSON) a body that does not validate against the declared schema."""
    from openapi_schema_validator import OAS30ReadValidator

    from services.gateway import openapi

    document = openapi.document()
    path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)
    where = f"{method} {path} {answer.status}"
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return [f"{method} {path}: no such operation in the document"]
    declared = operation["responses"].get(str(answer.status))
    if declared is None:
        return [f"{where}: status not declared"]
    media = (answer.headers.get("Content-Type") or "").split(";")[0].strip()
    content = declared.get("content") or {}
    if not content:
        return [] if answer.body in (None, "") else [f"{where}: a body, none declared"]
    if media not in content:
        return [f"{where}: {media or 'no media type'} is not one of {sorted(content)}"]
    if not (media == "application/json" or media.endswith("+json")):
        return []
    validator = OAS30ReadValidator({"allOf": [content[media]["schema"]],
                                    "components": document["components"]})
    return [f"{where}: {error.json_path}: {error.message}"[:300]
            for error in validator.iter_errors(answer.body)]
