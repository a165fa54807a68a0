"""CloudEvents on v1 predict, binary and structured mode (kserve-behaviour.md section 4)."""

import json

from e2e_util import Api, describe, expect_error, expect_json, media_type

CE_HEADERS = {
    "ce-specversion": "1.0",
    "ce-source": "e2e.test/client",
    "ce-type": "e2e.request",
    "ce-id": "req-event-1",
    "Content-Type": "application/json",
}


def _structured(data):
    return {"specversion": "1.0", "id": "struct-1", "source": "e2e.test/client", "type": "e2e.request",
            "time": "2026-01-01T00:00:00+00:00", "data": data}


def test_binary_cloudevent_gets_binary_cloudevent_reply(api):
    r = api.post("/v1/models/echo:predict", data=json.dumps({"instances": [[1, 2]]}), headers=CE_HEADERS)
    assert r.status_code == 200, describe(r)
    assert media_type(r) == "application/json", describe(r)
    assert json.loads(r.content) == {"predictions": [[1, 2]]}
    h = r.headers
    assert h.get("ce-specversion") == "1.0", describe(r)
    assert h.get("ce-source") == "io.kserve.inference.echo", describe(r)
    assert h.get("ce-type") == "io.kserve.inference.response", describe(r)
    assert h.get("ce-id") and h["ce-id"] != CE_HEADERS["ce-id"], describe(r)
    assert h.get("ce-time"), describe(r)


def test_incomplete_cloudevent_headers_are_plain_json(api):
    headers = {"ce-specversion": "1.0", "ce-id": "x", "Content-Type": "application/json"}
    r = api.post("/v1/models/echo:predict", data=json.dumps({"instances": [[1]]}), headers=headers)
    assert expect_json(r) == {"predictions": [[1]]}
    assert not [k for k in r.headers if k.lower().startswith("ce-")], describe(r)


def test_binary_cloudevent_with_bad_json_is_400(api):
    r = api.post("/v1/models/echo:predict", data=b'{"instances": [[1',
                 headers=dict(CE_HEADERS, **{"ce-content-type": "application/json"}))
    expect_error(r, 400)


def test_structured_cloudevent_gets_structured_reply(api):
    r = api.post("/v1/models/echo:predict", data=json.dumps(_structured({"instances": [[1, 2]]})),
                 headers={"Content-Type": "application/cloudevents+json"})
    assert r.status_code == 200, describe(r)
    assert media_type(r) == "application/cloudevents+json", describe(r)
    ev = json.loads(r.content)
    assert ev["specversion"] == "1.0"
    assert ev["type"] == "io.kserve.inference.response"
    assert ev["source"] == "io.kserve.inference.echo"
    assert ev["id"] and ev["id"] != "struct-1"
    assert ev["time"]
    assert ev["data"] == {"predictions": [[1, 2]]}


def test_structured_event_sent_as_application_json_gets_plain_json(api):
    r = api.post("/v1/models/echo:predict", json=_structured({"instances": [[3, 4]]}))
    assert expect_json(r) == {"predictions": [[3, 4]]}


def test_cloudevent_env_overrides_source_type_and_merge(make_stack):
    s = make_stack(env={"CE_SOURCE": "e2e.custom/source", "CE_TYPE": "e2e.custom.type", "CE_MERGE": "true"},
                   config=lambda c: c["server"].update(workers=1), name="ce")
    a = Api(s.base_url)
    headers = dict(CE_HEADERS, **{"ce-myext": "kept", "ce-time": "2026-01-01T00:00:00+00:00"})
    r = a.post("/v1/models/echo:predict", data=json.dumps({"instances": [[5]]}), headers=headers)
    assert r.status_code == 200, describe(r)
    assert json.loads(r.content) == {"predictions": [[5]]}
    assert r.headers.get("ce-source") == "e2e.custom/source", describe(r)
    assert r.headers.get("ce-type") == "e2e.custom.type", describe(r)
    assert r.headers.get("ce-myext") == "kept", describe(r)  # CE_MERGE copies extensions
    assert r.headers.get("ce-id") != CE_HEADERS["ce-id"]      # ...but never the id

    r = a.post("/v1/models/echo:predict", data=json.dumps(dict(_structured({"instances": [[6]]}), myext="kept")),
               headers={"Content-Type": "application/cloudevents+json"})
    ev = json.loads(r.content)
    assert ev["source"] == "e2e.custom/source" and ev["type"] == "e2e.custom.type"
    assert ev.get("myext") == "kept" and ev["id"] != "struct-1"
    assert ev["data"] == {"predictions": [[6]]}
