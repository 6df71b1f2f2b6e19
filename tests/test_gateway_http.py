"""The gateway's HTTP plumbing: JSON everywhere, RFC 7807 problems, a request id on every
response, readiness that tells which service is not answering."""

import json
import re
import socket
import urllib.error
import urllib.request

import pytest

from services.registry import service_classes


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gateway(container_factory, service_config):
    port = free_port()
    config = {**service_config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}
    container_factory(service_classes()["gateway"], config).start()
    return f"http://127.0.0.1:{port}", config


def call(url, method="GET", headers=None, data=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_health_is_json_with_a_request_id(gateway):
    base, _ = gateway
    status, headers, body = call(base + "/health")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["service"] == "gateway" and body["status"] == "ok"
    assert len(headers["X-Request-Id"]) >= 8


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced(gateway):
    base, _ = gateway
    _, headers, _ = call(base + "/health", headers={"X-Request-Id": "client-req-0001"})
    assert headers["X-Request-Id"] == "client-req-0001"
    _, headers, _ = call(base + "/health", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert headers["X-Request-Id"] != "<script>alert(1)</script>"


def test_the_gateways_own_log_lines_carry_the_clients_request_id(gateway, capfd):
    """Issue 12, defect 15: the gateway bound a fresh correlation id before it read the header,
    so its own log lines could not be found by the id the client was given."""
    base, _ = gateway
    capfd.readouterr()
    # no backend runs: readiness fails, and the gateway logs it (request_failed)
    status, headers, _ = call(base + "/health/ready", headers={"X-Request-Id": "klien-req-0042"})
    assert status == 503 and headers["X-Request-Id"] == "klien-req-0042"
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()
             if line.startswith("{")]
    failed = [entry for entry in lines if entry.get("event") == "request_failed"]
    assert failed, lines
    assert all((e.get("request_id"), e.get("correlation_id")) == ("klien-req-0042",) * 2
               for e in failed), failed


def test_unknown_route_is_a_problem_not_html(gateway):
    base, _ = gateway
    status, headers, body = call(base + "/api/nothing-here", method="POST", data=b"{}")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "route_not_found" and body["status"] == 404
    assert body["type"].endswith("/route_not_found")
    assert body["request_id"] == headers["X-Request-Id"]


def test_readiness_names_the_services_that_do_not_answer(gateway, container_factory):
    base, config = gateway
    container_factory(service_classes()["records"], config).start()
    status, headers, body = call(base + "/health/ready")
    assert status == 503 and headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "service_unavailable"
    assert "identity" in body["detail"] and "records" not in body["detail"]


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/layanan", "GET, HEAD"),
    ("PUT", "/api/auth/login", "POST"),
    ("GET", "/api/me/password", "PUT"),
    ("POST", "/api/layanan/KGB", "GET, HEAD, PUT"),
    ("PATCH", "/api/requests/6f1c1d6e-0000-4000-8000-000000000000/submit", "POST"),
    ("OPTIONS", "/health", "GET, HEAD"),
    ("TRACE", "/api/employees/198501012010121001/documents/" + "a" * 64, "GET, HEAD"),
])
def test_an_undeclared_method_on_a_route_is_405_naming_the_allowed_ones(gateway, method, path,
                                                                        allowed):
    base, _ = gateway
    status, headers, body = call(base + path, method=method,
                                 data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
    assert status == 405, (status, body)
    assert headers["Allow"] == allowed
    assert headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "method_not_allowed" and body["status"] == 405
    assert body["request_id"] == headers["X-Request-Id"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS", "TRACE"])
def test_a_path_no_route_has_is_404_whatever_the_method(gateway, method):
    base, _ = gateway
    status, headers, body = call(base + "/api/layanan/KGB/nothing-here", method=method)
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert body["code"] == "route_not_found" and "Allow" not in headers


#: a value for each path parameter that the route's converter accepts
SAMPLE_PARAMETERS = {"nip": "198501012010121001", "sha256": "a" * 64, "year": "2026"}


def test_every_path_of_the_document_answers_405_for_each_method_it_does_not_declare(gateway):
    from services.gateway import openapi

    base, _ = gateway
    wrong = []
    for path, operations in openapi.document()["paths"].items():
        declared = {m.upper() for m in operations}
        allowed = ", ".join(sorted(declared | ({"HEAD"} if "GET" in declared else set())))
        url = base + re.sub(r"{([^}]+)}", lambda m: SAMPLE_PARAMETERS.get(m[1], "x1"), path)
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} - declared):
            status, headers, body = call(url, method=method)
            if (status, headers.get("Allow"), body.get("code")) != (405, allowed,
                                                                     "method_not_allowed"):
                wrong.append(f"{method} {path}: {status} Allow={headers.get('Allow')}")
    assert not wrong, wrong
