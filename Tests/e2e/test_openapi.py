"""GET /openapi.json: a valid OpenAPI 3 document of every REST route the server answers, with the status codes and
bodies each route really gives. A route served without its documentation fails here."""

from __future__ import annotations

import copy
import itertools
import json
import re

import pytest
from jsonschema import Draft7Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

import e2e_util as u

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]

# Paths KServe 0.21 (FastAPI app, OpenAI and time-series extras) and Triton's HTTP API know, with a model name,
# version and file substituted: whatever of these the server answers must be in the document.
CANDIDATE_PATHS = [
    "/", "/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/docs/swagger-ui.css",
    "/docs/swagger-ui-bundle.js", "/status",
    "/v1/models", "/v1/models/echo", "/v1/models/echo:predict", "/v1/models/echo:explain",
    "/v1/timeseries/forecast", "/v1/timeseries/models",
    "/v2", "/v2/", "/v2/health/live", "/v2/health/ready", "/v2/models", "/v2/models/stats", "/v2/models/echo",
    "/v2/models/echo/ready", "/v2/models/echo/infer", "/v2/models/echo/generate", "/v2/models/echo/generate_stream",
    "/v2/models/echo/config", "/v2/models/echo/stats", "/v2/models/echo/trace/setting",
    "/v2/models/echo/versions/1", "/v2/models/echo/versions/1/ready", "/v2/models/echo/versions/1/infer",
    "/v2/models/echo/versions/1/generate", "/v2/models/echo/versions/1/config", "/v2/models/echo/versions/1/stats",
    "/v2/repository/index", "/v2/repository/models/echo/load", "/v2/repository/models/echo/unload",
    "/v2/trace/setting", "/v2/logging", "/v2/systemsharedmemory/status", "/v2/cudasharedmemory/status",
    "/openai/v1/completions", "/openai/v1/chat/completions", "/openai/v1/embeddings", "/openai/v1/models",
]


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory):
    cfg = u.default_config()
    cfg["http"]["enable_docs_url"] = True
    cfg["models"].append({"name": "echo2", "kind": "echo"})
    yield from u.serve(u.Stack(tmp_path_factory.mktemp("openapi"), cfg, name="openapi"))


@pytest.fixture(scope="module")
def document(docs_stack) -> dict:
    return u.expect_json(u.Api(docs_stack.base_url).get("/openapi.json"))


def template_regex(template: str) -> re.Pattern:
    out = ""
    for piece in re.split(r"(\{[^}]+\})", template):
        out += "[^/]+" if piece.startswith("{") else re.escape(piece)
    return re.compile("^" + out + "$")


def documented_template(doc: dict, path: str, method: str) -> str | None:
    """The documented template that `path` instantiates with `method`, literal templates first."""
    templates = sorted(doc["paths"], key=lambda t: t.count("{"))
    for t in templates:
        if template_regex(t).match(path) and method.lower() in doc["paths"][t]:
            return t
    return None


def is_route_miss(r) -> bool:
    """The router's own 404 (no such path) or 405 (no such method), as opposed to a route's answer."""
    if r.status_code == 405:
        return True
    if r.status_code != 404:
        return False
    try:
        msg = r.json().get("error", "")
    except ValueError:
        return False
    return msg.startswith("Not Found") or msg == "Not found"


def test_document_is_valid_openapi_3(document):
    validate_spec(document)
    assert document["openapi"].startswith("3.")
    assert "Error" in document["components"]["schemas"]


def test_every_route_the_server_answers_is_documented(docs_stack, document):
    api = u.Api(docs_stack.base_url)
    served = []
    undocumented = []
    for path, method in itertools.product(CANDIDATE_PATHS + list(document["paths"]), METHODS):
        concrete = path.replace("{model_name}", "no-such-model").replace("{model_version}", "1") \
            .replace("{file}", "swagger-ui.css")
        if "/repository/models/" in concrete and "no-such-model" not in concrete:
            concrete = concrete.replace("/echo/", "/no-such-model/")  # never unload the model under test
        r = api.request(method, concrete, data=b"{}", headers={"Content-Type": "application/json"})
        if is_route_miss(r):
            continue
        served.append((method, concrete))
        if documented_template(document, concrete, method) is None and not (
                concrete == "/v2/" and documented_template(document, "/v2", method)):
            undocumented.append(f"{method} {concrete} -> {r.status_code}")
    assert not undocumented, "served but not in /openapi.json: " + ", ".join(undocumented)
    # and the probe saw every documented operation answer
    for template, item in document["paths"].items():
        for method in item:
            assert any(documented_template(document, p, m.upper()) == template and m.upper() == method.upper()
                       for m, p in served), f"{method.upper()} {template} is documented but not served"


def nullable_to_jsonschema(schema):
    """OpenAPI 3.0's `nullable: true` as JSON Schema's type list."""
    if isinstance(schema, dict):
        out = {k: nullable_to_jsonschema(v) for k, v in schema.items() if k not in ("nullable", "example")}
        if schema.get("nullable") and "type" in schema:
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [nullable_to_jsonschema(v) for v in schema]
    return schema


def response_validator(document: dict, schema: dict) -> Draft7Validator:
    root = nullable_to_jsonschema(copy.deepcopy(document))
    registry = Registry().with_resource("urn:kserve:openapi", Resource.from_contents(root, default_specification=DRAFT7))
    schema = json.loads(json.dumps(nullable_to_jsonschema(schema)).replace('"#/components/', '"urn:kserve:openapi#/components/'))
    return Draft7Validator(schema, registry=registry)


def example_request(op: dict, template: str, model: str) -> tuple[str, dict]:
    path = template
    for p in op.get("parameters", []):
        if p["in"] == "path":
            value = model if p["name"] == "model_name" else p.get("example", "x")
            path = path.replace("{" + p["name"] + "}", str(value))
    kw = {}
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        kw["json"] = body.get("example", {})
    return path, kw


def check_answer(document, template, method, op, r):
    status = str(r.status_code)
    assert status in op["responses"], \
        f"{method} {template} answered {status}, documented {sorted(op['responses'])}\n{u.describe(r)}"
    content = op["responses"][status].get("content", {})
    media = u.media_type(r)
    assert media in content, f"{method} {template} {status}: {media} is not documented ({sorted(content)})"
    if media == "application/json":
        errors = sorted(response_validator(document, content[media]["schema"]).iter_errors(r.json()), key=str)
        assert not errors, f"{method} {template} {status}: body does not match its schema: {errors[0].message}\n{u.describe(r)}"


def test_each_operation_answers_a_documented_status_and_body(docs_stack, document):
    api = u.Api(docs_stack.base_url)
    ops = [(t, m.upper(), op) for t, item in document["paths"].items() for m, op in item.items()]
    # unload before load, on the spare model, so the others stay served
    ops.sort(key=lambda x: x[2]["operationId"] == "repository_load")
    seen_statuses = set()
    problems = []

    def check(template, method, op, r):
        try:
            check_answer(document, template, method, op, r)
        except AssertionError as e:
            problems.append(str(e).split("\n")[0])

    for template, method, op in ops:
        model = "echo2" if template.startswith("/v2/repository/models/") else "echo"
        path, kw = example_request(op, template, model)
        r = api.request(method, path, **kw)
        check(template, method, op, r)
        seen_statuses.add(r.status_code)
        if "{model_name}" in template:
            # and the missing-model answer is documented too
            path, kw = example_request(op, template, "no-such-model")
            r = api.request(method, path, **kw)
            if r.status_code != 404:
                problems.append(f"{method} {path}: {r.status_code}, not 404")
            check(template, method, op, r)
    assert not problems, "\n".join(problems)
    assert 200 in seen_statuses


def test_errors_are_documented_with_the_error_body(docs_stack, document):
    api = u.Api(docs_stack.base_url)
    op = document["paths"]["/v2/models/{model_name}/infer"]["post"]
    r = api.post("/v2/models/echo/infer", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    check_answer(document, "/v2/models/{model_name}/infer", "POST", op, r)
    r = api.post("/v2/models/broken/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]})
    assert r.status_code == 503
    check_answer(document, "/v2/models/{model_name}/infer", "POST", op, r)
    r = api.post("/v1/models/broken:predict", json={"instances": [1]})
    check_answer(document, "/v1/models/{model_name}:predict", "POST", document["paths"]["/v1/models/{model_name}:predict"]["post"], r)


def test_openapi_is_served_without_docs_and_docs_is_off_by_default(api):
    doc = u.expect_json(api.get("/openapi.json"))
    validate_spec(doc)
    assert "/docs" not in doc["paths"] and "/v2/models/{model_name}/infer" in doc["paths"]
    u.expect_error(api.get("/docs"), 404)
