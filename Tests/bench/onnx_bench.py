#!/usr/bin/env python3
"""make bench (and make bench-onnx): the ONNX workload, ours against KServe 0.21 side by side in one run.

    .venv-bench/bin/python Tests/bench/onnx_bench.py --bin .build/release/kserve-master --python .venv-bench/bin/python

One ONNX MLP (three dense layers 256 wide, Tests/bench/kserve_onnx.py --train), served by both with 2 workers and one
ONNX Runtime intra-op thread each: ours as kind `onnx`, KServe as a custom Model calling onnxruntime in Python.
Predictions are checked equal (float32, bit for bit, against Python's onnxruntime) before measuring. v2 JSON infer,
batch 1 and 32, concurrency 1 and 16 (wrk + wrk_body.lua; warm-up discarded; bounded in time and count).
Also: ONNX Runtime's own in-process Run time for the same input (p50) and our echo model's p50 at c=1, for the
overhead goal. Writes the "ONNX" section of BENCHMARKS.md (between its markers) and prints it.
Goals: >= 5x KServe's throughput at c16 batch 1; our overhead (p50 at c1 minus ORT's Run) <= 1.5x our echo p50.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "Tests" / "bench"
HOST = "127.0.0.1"
STARTED: list[subprocess.Popen] = []
BEGIN, END = "<!-- onnx-bench:begin -->", "<!-- onnx-bench:end -->"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(cmd: list[str], cwd: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    p = subprocess.Popen(cmd, cwd=cwd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env)
    STARTED.append(p)
    return p


def stop_all() -> None:
    for p in STARTED:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for p in STARTED:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(port: int, model: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/v2/models/{model}/ready", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"model {model} not ready on port {port} after {timeout}s")


def wrk(port: int, path: str, body_file: Path, conc: int, seconds: float) -> dict:
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_PATH=path, BENCH_MAX_REQUESTS="2000000")
    cmd = ["wrk", "-t", str(min(conc, 2)), "-c", str(conc), "-d", f"{max(1, int(seconds))}s", "--timeout", "10s",
           "-s", str(BENCH / "wrk_body.lua"), f"http://{HOST}:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    total = {"requests": 0, "errors": 0, "p50_us": [], "p99_us": [], "duration_us": 0}
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            j = json.loads(line[len("BENCH_JSON "):])
            return {"rps": j["requests"] / (j["duration_us"] / 1e6), "p50_us": j["p50_us"], "p99_us": j["p99_us"],
                    "errors": j["errors_status"] + j["errors_connect"] + j["errors_read"] + j["errors_timeout"]}
    raise RuntimeError(f"wrk printed no result: {out[-500:]}")


def floats(body: bytes) -> np.ndarray:
    doc = json.loads(body)
    return np.array(doc["outputs"][0]["data"], dtype=np.float32)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", type=lambda v: Path(v).resolve(), default=REPO / ".build" / "release" / "kserve-master")
    ap.add_argument("--python", type=lambda v: Path(v).absolute(), default=REPO / ".venv-bench" / "bin" / "python")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kserve-onnx-bench-"))
    try:
        subprocess.run([str(args.python), str(BENCH / "kserve_onnx.py"), "--train", str(tmp / "m")], check=True)
        expected = json.loads((tmp / "m" / "expected.json").read_text())
        ort_info = json.loads((tmp / "m" / "ort.json").read_text())
        echo_body = tmp / "echo.json"
        echo_body.write_text(json.dumps({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP32",
                                                     "data": [1, 2, 3, 4]}]}))
        ours_port, kserve_port = free_port(), free_port()
        (tmp / "ours").mkdir()
        (tmp / "ours" / "kserve.toml").write_text(f"""
[server]
workers = 2
threads = 1
run_dir = "{tmp / 'ours' / 'run'}"
grace_period = 5
[http]
host = "{HOST}"
port = {ours_port}
[grpc]
enable = false
[[models]]
name = "echo"
kind = "echo"
[[models]]
name = "onnx"
kind = "onnx"
path = "{tmp / 'm' / 'model.onnx'}"
intra_op_threads = 1
""")
        ours = start([str(args.bin), "-c", str(tmp / "ours" / "kserve.toml")], tmp / "ours", tmp / "ours.log")
        ours_ready = wait_ready(ours_port, "onnx", ours)
        (tmp / "kserve").mkdir()
        kserve = start([str(args.python), str(BENCH / "kserve_onnx.py"), "--model_dir", str(tmp / "m"),
                        "--model_name", "onnx", "--http_port", str(kserve_port), "--grpc_port", str(free_port()),
                        "--workers", "2"], tmp / "kserve", tmp / "kserve.log")
        kserve_ready = wait_ready(kserve_port, "onnx", kserve)
        agree = {}
        for batch in ("1", "32"):
            body = (tmp / "m" / f"request{batch}.json").read_bytes()
            want = np.array(expected[batch], dtype=np.float32)
            for name, port in (("ours", ours_port), ("kserve", kserve_port)):
                status, answer = post(port, "/v2/models/onnx/infer", body)
                got = floats(answer) if status == 200 else None
                agree[(name, batch)] = got is not None and got.tobytes() == want.tobytes()
        if not all(agree.values()):
            print(f"predictions differ: {agree}", file=sys.stderr)
        results: dict = {}
        for batch in ("1", "32"):
            for conc in (1, 16):
                for name, port in (("ours", ours_port), ("kserve", kserve_port)):
                    f = tmp / "m" / f"request{batch}.json"
                    wrk(port, "/v2/models/onnx/infer", f, conc, 2)  # warm-up, discarded
                    results[(name, batch, conc)] = wrk(port, "/v2/models/onnx/infer", f, conc, args.seconds)
                    r = results[(name, batch, conc)]
                    print(f"{name:6} batch {batch:>2} c{conc:<2}: {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:.3f} ms"
                          f"  p99 {r['p99_us'] / 1000:.3f} ms  errors {r['errors']}", file=sys.stderr)
        wrk(ours_port, "/v2/models/echo/infer", echo_body, 1, 2)
        echo_small = wrk(ours_port, "/v2/models/echo/infer", echo_body, 1, args.seconds)
        # The same request body (256 FP32 values as JSON) through the echo model: the framework's cost for this
        # payload, without a model (echo also writes all 256 values back, where the MLP answers 10).
        echo = wrk(ours_port, "/v2/models/echo/infer", tmp / "m" / "request1.json", 1, args.seconds)
    finally:
        stop_all()
    ort1 = ort_info["p50_us"]["1"]
    overhead = results[("ours", "1", 1)]["p50_us"] - ort1
    tput = results[("ours", "1", 16)]["rps"] / results[("kserve", "1", 16)]["rps"]
    over_ratio = overhead / echo["p50_us"]
    lines = [BEGIN, "## ONNX (kind `onnx`) against KServe 0.21 (custom Model calling onnxruntime)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `Tests/bench/onnx_bench.py` on "
             f"{os.cpu_count()} cores: an MLP of three dense layers 256 wide (10 outputs), v2 JSON infer, both "
             f"servers with 2 workers and one ONNX Runtime intra-op thread (onnxruntime {ort_info['onnxruntime']} on "
             f"both sides), {args.seconds:.0f} s per run after a warm-up. Predictions checked equal (float32 bits, "
             f"against Python's onnxruntime): {'yes' if all(agree.values()) else 'NO ' + str(agree)}. "
             f"Start to ready: ours {ours_ready:.2f} s, KServe {kserve_ready:.2f} s.", "",
             "| batch | concurrency | ours req/s | KServe req/s | ratio | ours p50 / p99 (ms) | KServe p50 / p99 (ms) |",
             "|---|---|---|---|---|---|---|"]
    for batch in ("1", "32"):
        for conc in (1, 16):
            o, k = results[("ours", batch, conc)], results[("kserve", batch, conc)]
            lines.append(f"| {batch} | {conc} | {o['rps']:,.0f} | {k['rps']:,.0f} | {o['rps'] / k['rps']:.1f}x | "
                         f"{o['p50_us'] / 1000:.3f} / {o['p99_us'] / 1000:.3f} | {k['p50_us'] / 1000:.3f} / {k['p99_us'] / 1000:.3f} |")
    lines += ["",
              f"- ONNX Runtime's own `Run` (in process, same input, p50): batch 1 {ort1:.1f} µs, batch 32 "
              f"{ort_info['p50_us']['32']:.1f} µs.",
              f"- Our server overhead at c=1, batch 1: p50 {results[('ours', '1', 1)]['p50_us']:.0f} µs - Run "
              f"{ort1:.0f} µs = {overhead:.0f} µs; our echo model's p50 at c=1 on the same request body: "
              f"{echo['p50_us']:.0f} µs: {over_ratio:.2f}x (goal <= 1.5x: {'met' if over_ratio <= 1.5 else 'MISSED'}); "
              f"on a 4-value request the echo's p50 is {echo_small['p50_us']:.0f} µs "
              f"({overhead / echo_small['p50_us']:.2f}x): the difference is the JSON of 256 values.",
              f"- Throughput at c16, batch 1: {tput:.1f}x KServe (goal >= 5x: {'met' if tput >= 5 else 'MISSED'}).",
              END]
    section = "\n".join(lines) + "\n"
    print(section)
    text = args.out.read_text() if args.out.exists() else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
