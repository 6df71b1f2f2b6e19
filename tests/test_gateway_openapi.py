"""The OpenAPI document says what the gateway does: it is valid OpenAPI 3, every path names its
parameters in braces, no constraint stands on a type it cannot apply to or contradicts its own
default, the success answers are declared with the media types really sent, and each operation
lists the error statuses it can really answer. Whether the live answers match it is checked by
the fuzzer (tests/test_gateway_fuzz.py) and by the authorization matrix
(tests/test_gateway_authz.py), which validates every answer it gets against the document."""

import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from services.gateway import openapi
from services.gateway.http import ROUTES
from services.gateway.service import GatewayService  # noqa: F401 - registers the routes

PARAM = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
#: keywords that only mean something for one JSON type
TYPED_KEYWORDS = {
    "string": {"minLength", "maxLength", "pattern"},
    "array": {"minItems", "maxItems", "uniqueItems", "items"},
    "object": {"minProperties", "maxProperties", "properties", "additionalProperties",
               "required"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
BINARY = {"type": "string", "format": "binary"}


def operations():
    for path, methods in openapi.document()["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def route_of(path, method):
    return next(r for r in ROUTES if PARAM.sub(r"{\1}", r.path) == path
                and r.method.lower() == method)


def test_the_document_is_valid_openapi():
    validate(openapi.document())


def test_every_route_is_one_operation_with_its_path_parameters_in_braces():
    document = openapi.document()
    declared = {(path, method) for path, method, _ in operations()}
    assert declared == {(PARAM.sub(r"{\1}", r.path), r.method.lower()) for r in ROUTES}
    for path, method, operation in operations():
        assert "<" not in path and ">" not in path, path
        in_path = re.findall(r"{([^}]+)}", path)
        parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert sorted(parameters) == sorted(in_path), (method, path)
    assert document["paths"]["/api/employees/{nip}/documents/{sha256}"]["get"]


def _walk(node, where):
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def test_constraints_fit_their_types_and_defaults_meet_their_own_constraints():
    document = openapi.document()
    misplaced, bad_defaults = [], []
    for where, node in _walk(document, "#"):
        kind = node.get("type")
        if not isinstance(kind, str) or "/examples" in where:
            continue
        kind = "number" if kind == "integer" else kind
        for other, keywords in TYPED_KEYWORDS.items():
            if other != kind and keywords & set(node) and not where.endswith("/properties"):
                misplaced.append(f"{where}: {sorted(keywords & set(node))} on a {kind}")
        if "default" in node:
            schema = {k: v for k, v in node.items() if k != "default"}
            if not OAS30Validator({"allOf": [schema], "components": document["components"]}
                                  ).is_valid(node["default"]):
                bad_defaults.append(f"{where}: default {node['default']!r} breaks {schema}")
    assert not misplaced, misplaced
    assert not bad_defaults, bad_defaults


@pytest.mark.parametrize("path, media", [
    ("/api/employees/{nip}/documents/{sha256}", {"application/pdf", "image/jpeg", "image/png"}),
    ("/api/requests/{request_id}/documents/{document}",
     {"application/pdf", "image/jpeg", "image/png"}),
    ("/api/signed-documents/{document_id}/pdf", {"application/pdf"}),
])
def test_downloads_are_declared_200_with_their_real_media_types(path, media):
    responses = openapi.document()["paths"][path]["get"]["responses"]
    assert "204" not in responses
    assert set(responses["200"]["content"]) == media
    assert all(c["schema"] == BINARY for c in responses["200"]["content"].values())
    assert "Content-Disposition" in responses["200"]["headers"]


@pytest.mark.parametrize("path, media", [
    ("/health", "application/json"), ("/health/ready", "application/json"),
    ("/api/openapi.json", "application/json"), ("/api/docs", "text/html")])
def test_health_and_documentation_are_declared_200_as_sent(path, media):
    responses = openapi.document()["paths"][path]["get"]["responses"]
    assert "204" not in responses and set(responses["200"]["content"]) == {media}


def test_each_operation_lists_the_errors_it_can_answer_as_problems():
    error_sets = set()
    for path, method, operation in operations():
        route = route_of(path, method)
        errors = {int(s) for s in operation["responses"] if int(s) >= 400}
        error_sets.add(frozenset(errors))
        where = f"{method.upper()} {path}"
        for status in errors:
            assert operation["responses"][str(status)]["content"] == PROBLEM, (where, status)
        # what the HTTP plumbing may answer on any route: a body too slow or too big, the
        # client's rate, too many bodies at once or a backend down, a crash
        assert {408, 413, 429, 500, 503} <= errors, where
        if route.roles is not None:
            assert {401, 403} <= errors and operation["security"] == [{"bearer": []}], where
        elif route.signed:  # a region's HMAC signature instead of a bearer token
            assert 401 in errors and 403 not in errors, where
            assert operation["security"] == [{"region_hmac": []}], where
        elif not route.login_limited:
            assert not {401, 403} & errors, f"{where} asks for no credentials"
        if "{" in path and not route.signed:
            assert 404 in errors, where
        elif path.count("{") == 1:  # the region in a signed route's path is its key's
            assert 404 not in errors, where
        elif "{" in path:  # a region's own snapshot or report, by id
            assert 404 in errors, where
        if route.body is not None:
            assert {400, 415, 422} <= errors, where
        if route.query is not None:
            assert 422 in errors, where
        if route.upload is not None:
            assert {413, 422} <= errors, where
        if route.body is None and route.upload is None and route.query is None \
                and route.roles is None:
            assert 422 not in errors, f"{where} takes no input to refuse"
        assert 423 not in errors, f"{where}: no account is ever locked (failures are slowed)"
    assert len(error_sets) > 10, "operations list the errors each can give, not one common set"
