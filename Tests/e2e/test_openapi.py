"""GET /openapi.json: a valid OpenAPI 3 document of every REST route the server answers (always served, as KServe)."""

from __future__ import annotations

import re

import pytest

import e2e_util as u

# Every route the router serves (Sources/KServeModel/Server/RESTRouter.swift), as (method, path template): a route
# added there must be added here and to Sources/KServeModel/Server/OpenAPIDocument.swift.
ROUTER_ROUTES = [
    ("get", "/"), ("get", "/metrics"), ("get", "/openapi.json"),
    ("get", "/v1/models"), ("get", "/v1/models/{model}"),
    ("post", "/v1/models/{model}:predict"), ("post", "/v1/models/{model}:explain"),
    ("get", "/v2"), ("get", "/v2/health/live"), ("get", "/v2/health/ready"), ("get", "/v2/models"),
    ("get", "/v2/models/stats"),
    ("post", "/v2/repository/index"), ("get", "/v2/repository/index"),
    ("post", "/v2/repository/models/{model}/load"), ("post", "/v2/repository/models/{model}/unload"),
    ("get", "/status"),
] + [(m, prefix + suffix) for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
     for m, suffix in (("get", ""), ("get", "/ready"), ("post", "/infer"), ("post", "/generate"),
                       ("get", "/config"), ("get", "/stats"))]


@pytest.fixture(scope="module")
def doc(stack):
    r = u.Api(stack.base_url).get("/openapi.json")
    assert r.status_code == 200, u.describe(r)
    return r.json()


def test_the_document_is_valid_openapi_3(doc):
    from openapi_spec_validator import validate
    validate(doc)
    assert doc["openapi"].startswith("3.")


def test_every_route_the_router_serves_is_documented(doc):
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    missing = [r for r in ROUTER_ROUTES if r not in documented]
    assert not missing, f"routes without documentation: {missing}"


def test_every_documented_route_is_served(doc, stack):
    api = u.Api(stack.base_url)
    for path, item in doc["paths"].items():
        for method in item:
            # repository load / unload act on the whole shared stack: name a model that does not exist there
            model = "no-such-model" if path.startswith("/v2/repository/") else "echo"
            concrete = path.replace("{model}", model).replace("{version}", "1")
            r = api.request(method.upper(), concrete, json={"inputs": [], "instances": []} if method == "post" else None)
            body = r.text
            assert not (r.status_code == 404 and re.search(r"Not Found: ", body)), f"{method} {path}: {body[:200]}"
            assert r.status_code != 405, f"{method} {path}: {body[:200]}"


def test_documented_operations_give_parameters_bodies_and_statuses(doc):
    infer = doc["paths"]["/v2/models/{model}/infer"]["post"]
    assert [p["name"] for p in infer["parameters"]] == ["model"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/InferenceRequest")
    assert {"200", "400", "404", "500", "503"} <= set(infer["responses"])
    schemas = doc["components"]["schemas"]
    assert {"InferenceRequest", "InferenceResponse", "V1Request", "V1Response", "Error"} <= set(schemas)
    assert "FP16" in schemas["RequestInput"]["properties"]["datatype"]["enum"]
