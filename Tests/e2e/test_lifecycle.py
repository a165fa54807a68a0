"""The seed's lifecycle and exception handler, through the real stack, with your-own-server shape
(Sources/kserve-example-server: models registered in code, started with KServe's args and no config)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

import e2e_util as u


def example_bin() -> Path:
    return u.kserve_bin().parent / "kserve-example-server"


def test_exception_handler_and_stop_engine_order(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    port = u.free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(example_bin()), f"--http_port={port}", "--enable_grpc=false", "--workers=1",
                             "--mark_dir", str(marks)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, TMPDIR=str(tmp_path / "tmp")), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        u.wait_process_ready(proc, base, tmp_path / "server.log")
        r = requests.post(base + "/v1/models/faulty:predict", json={"instances": [1, 2]}, timeout=10)
        assert r.status_code == 200 and r.json() == {"predictions": [1, 2]}
        r = requests.post(base + "/v1/models/faulty:predict", json={"instances": ["fail"]}, timeout=10)
        assert r.status_code == 500 and "asked to fail" in r.json()["error"], r.text
        r = requests.post(base + "/v1/models/faulty:predict", json={"nothing": 1}, timeout=10)
        assert r.status_code == 400  # a client mistake is not an exception
        handled = (marks / "exceptions.log").read_text().splitlines()
        assert handled == ["ExampleError: asked to fail"], handled
        assert requests.post(base + "/v1/models/engine:predict", json={"instances": [3]}, timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        u.kill_group(proc)
        log.close()
    lifecycles = [p.read_text().splitlines() for p in marks.glob("lifecycle-*")]
    # the worker started the engine and, at the graceful stop, called stop() then stop_engine()
    assert any(lines[-2:] == ["stop", "stop_engine"] and "start_engine" in lines for lines in lifecycles), lifecycles
