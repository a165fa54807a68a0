"""Load and abuse: many concurrent requests, each answer checked against its own request."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from e2e_util import Api, ThreadLocalApi, assert_serving, describe, media_type


def _one(local: ThreadLocalApi, i: int):
    a = local.api
    kind = i % 4
    if kind == 0:
        r = a.predict("echo", {"instances": [[i, i + 0.5]]})
        ok = r.status_code == 200 and r.json() == {"predictions": [[i, i + 0.5]]}
    elif kind == 1:
        r = a.infer("echo", {"id": f"c{i}", "inputs": [
            {"name": "x", "datatype": "INT64", "shape": [3], "data": [i, -i, i * 1000]}]})
        ok = (r.status_code == 200 and r.json()["id"] == f"c{i}"
              and r.json()["outputs"][0]["data"] == [i, -i, i * 1000])
    elif kind == 2:
        r = a.get("/v2/models/echo/ready")
        ok = r.status_code == 200 and r.json()["ready"] is True
    else:
        r = a.get("/v2/models/echo")
        ok = r.status_code == 200 and r.json()["name"] == "echo"
    return ok, (None if ok else describe(r))


def test_200_concurrent_requests_all_succeed(stack, base_url):
    local = ThreadLocalApi(base_url)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: _one(local, i), range(200)))
    failures = [d for ok, d in results if not ok]
    assert not failures, f"{len(failures)} of 200 failed; first:\n{failures[0]}"
    assert stack.worker_pids() == stack.initial_workers


def test_concurrent_bad_and_good_requests_do_not_disturb_each_other(stack, base_url):
    local = ThreadLocalApi(base_url)

    def job(i):
        a = local.api
        if i % 2:
            r = a.post("/v2/models/echo/infer", data=b'{"inputs": [', headers={"Content-Type": "application/json"})
            return r.status_code == 400 and media_type(r) == "application/json", describe(r)
        r = a.predict("echo", {"instances": [[i]]})
        return r.status_code == 200 and r.json() == {"predictions": [[i]]}, describe(r)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(job, range(200)))
    failures = [d for ok, d in results if not ok]
    assert not failures, f"{len(failures)} of 200 failed; first:\n{failures[0]}"
    assert_serving(Api(base_url))
    assert stack.worker_pids() == stack.initial_workers


def test_client_disconnecting_mid_request_does_not_break_workers(stack, base_url):
    import socket
    host, port = "127.0.0.1", stack.port
    for _ in range(5):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"POST /v1/models/echo:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"instances\": [")
    body = b'{"parameters":{"delay_ms":300},"inputs":[{"name":"a","datatype":"INT32","shape":[1],"data":[1]}]}'
    with socket.create_connection((host, port), timeout=5) as s:  # slow request, abandoned after the send
        s.sendall(b"POST /v2/models/sleep/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert_serving(Api(base_url))
    assert stack.worker_pids() == stack.initial_workers


def test_streaming_predict_reaches_client_chunk_by_chunk(make_stack):
    """The `stream` sample yields 4 chunks 400 ms apart; through nginx each must arrive on its own, not at the end."""
    import time

    import requests

    def with_stream(cfg):
        cfg["models"].append({"name": "stream", "kind": "stream", "count": 4, "interval_ms": 400})

    s = make_stack(config=with_stream)
    start = time.monotonic()
    arrivals, chunks = [], []
    with requests.post(f"{s.base_url}/v1/models/stream:predict", json={"instances": [1]}, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked"
        for line in r.iter_lines():
            if line:
                chunks.append(line)
                arrivals.append(time.monotonic() - start)
    assert chunks == [b'{"chunk": %d}' % i for i in range(4)]
    # The first chunk arrives long before the last one was produced (>= 1.2 s after the start).
    assert arrivals[0] < 0.9, arrivals
    assert arrivals[-1] - arrivals[0] >= 1.0, arrivals
