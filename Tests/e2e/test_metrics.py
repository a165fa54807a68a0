"""Prometheus metrics aggregated over all workers, and the per-request latency log line."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families

from e2e_util import Api, describe, expect_json

HISTOGRAMS = ["request_preprocess_seconds", "request_predict_seconds", "request_postprocess_seconds"]


def _families(api):
    r = api.get("/metrics")
    assert r.status_code == 200, describe(r)
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain"), describe(r)
    assert "version=0.0.4" in ctype, describe(r)
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def _count(api, family: str, model: str) -> float:
    fams = _families(api)
    if family not in fams:
        return 0
    for s in fams[family].samples:
        if s.name == family + "_count" and s.labels.get("model_name") == model:
            return s.value
    return 0


def test_metrics_is_prometheus_text_with_kserve_histograms(api):
    expect_json(api.predict("echo", {"instances": [[1, 2]]}))
    fams = _families(api)
    for name in HISTOGRAMS:
        assert name in fams, f"{name} missing from /metrics; have {sorted(fams)}"
        assert fams[name].type == "histogram"
        labels = [s.labels for s in fams[name].samples if s.name == name + "_count"]
        assert {"model_name": "echo"} in labels, labels


def test_predict_histogram_has_buckets_sum_and_count(api):
    expect_json(api.predict("echo", {"instances": [[1]]}))
    fam = _families(api)["request_predict_seconds"]
    echo = [s for s in fam.samples if s.labels.get("model_name") == "echo"]
    names = {s.name for s in echo}
    assert {"request_predict_seconds_bucket", "request_predict_seconds_sum",
            "request_predict_seconds_count"} <= names
    inf = [s for s in echo if s.name.endswith("_bucket") and s.labels.get("le") == "+Inf"]
    count = [s for s in echo if s.name.endswith("_count")]
    assert len(inf) == 1 and inf[0].value == count[0].value


def test_predict_count_rises_by_exactly_k_whichever_worker_answers(api, base_url):
    before = _count(api, "request_predict_seconds", "echo")
    k = 40

    def one(i):
        a = Api(base_url)
        return a.predict("echo", {"instances": [[i]]}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(k))) == {200}
    for _ in range(8):  # several scrapes: each may land on a different worker
        after = _count(api, "request_predict_seconds", "echo")
        assert after - before == k, f"request_predict_seconds_count rose by {after - before}, expected {k}"


def test_explain_is_counted_in_explain_histogram(api):
    before = _count(api, "request_explain_seconds", "echo")
    for _ in range(3):
        expect_json(api.post("/v1/models/echo:explain", json={"instances": [[1]]}))
    assert _count(api, "request_explain_seconds", "echo") - before == 3


def test_latency_line_is_logged_with_the_request_id(api, stack):
    rid = f"e2e-{uuid.uuid4()}"
    expect_json(api.predict("echo", {"instances": [[1]]}, headers={"X-Request-Id": rid}))
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = [ln for ln in stack.log_text().splitlines() if rid in ln and "predict_ms" in ln]
        if lines:
            break
        time.sleep(0.1)
    assert lines, f"no latency line with requestId {rid} and predict_ms in the log"


def _count_lines(stack, needle: str) -> int:
    return sum(1 for ln in stack.log_text().splitlines() if needle in ln)


def test_one_access_log_line_per_request_naming_the_worker_pid(api, stack):
    needle = "/v2/health/ready"
    before = _count_lines(stack, needle)
    for _ in range(5):
        expect_json(api.get(needle))
    deadline = time.monotonic() + 5
    while _count_lines(stack, needle) - before < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # and no extra lines trickle in
    lines = [ln for ln in stack.log_text().splitlines() if needle in ln][before:]
    assert len(lines) == 5, f"expected 5 access lines for {needle}, got {len(lines)}: {lines}"
    pids = [str(p) for p in stack.initial_workers]
    assert all(any(p in ln for p in pids) for ln in lines), f"access lines without a worker pid {pids}: {lines}"


def test_model_load_failure_reason_is_in_the_error_and_the_log(api, stack):
    prefix = "Model with name broken is not ready."
    msg = api.get("/v1/models/broken").json()["error"]
    reason = msg[len(prefix):].strip() if msg.startswith(prefix) else ""
    assert reason, f"no reason in {msg!r}"
    assert reason in stack.log_text(), f"reason {reason!r} not in the log"
