#!/usr/bin/env python3
"""make bench: our stack against KServe 0.21 and against the FastCGI ceiling, side by side in one run.

    .venv-bench/bin/python Tests/bench/run_bench.py --bin .build/release/kserve-master \
        --loadgen .build/release/kserve-grpc-loadgen --ceiling .build-bench/fcgi_ceiling [--quick] [options]

Servers (all on free loopback ports, started one after the other so that each start-to-ready time is measured on
a quiet machine, then left running idle while the others are measured):
  ours     kserve-master with a temp config: the echo model (+ the xgb model when the xgb workload runs), 2 workers,
           nginx, gRPC on.
  kserve   KServe 0.21 (Tests/bench/kserve_echo.py, the same echo model on KServe's Python SDK; + the xgb model with
           xgbserver's model class from Tests/bench/kserve_xgb.py when the xgb workload runs), --workers 2, gRPC on.
  ceiling  2 minimal C libfcgi responders (Tests/bench/fcgi_ceiling.c) behind nginx rendered from the same
           nginx/kserve.conf.template + kserve-locations.conf as ours (HTTP only; runs no model: not started when
           only model workloads run).

Workloads (each at concurrency 1 and 16, each server in turn per workload so that drift hits all of them alike):
  v1       v1 small JSON predict            wrk + Tests/bench/wrk_v1_predict.lua
  v2json   v2 small JSON infer              wrk + Tests/bench/wrk_v2_infer.lua
  v2bin    v2 binary 4 MB FP32 echo         wrk + Tests/bench/wrk_v2_binary.lua (binary_data_output)
  grpc     gRPC small ModelInfer            kserve-grpc-loadgen --workload small
  grpc4mb  gRPC 4 MB FP32 raw ModelInfer    kserve-grpc-loadgen --workload fp32-4mb
  xgb      v1 XGBoost predict, 4 rows       wrk + Tests/bench/wrk_xgb_predict.lua; ours and KServe only (n/a for the
                                            ceiling). The model (binary:logistic, 200 trees of depth 6, 30 features)
                                            is trained at start into the temp folder by Tests/bench/kserve_xgb.py
                                            --train in the KServe venv (deterministic, ~2-5 s); both servers serve
                                            that same model.json, and their predictions for the benchmark request
                                            are checked against each other and against xgboost's Booster.predict
                                            (equal as float32, bit for bit) before measuring.
Then, per server, the sequential latency runs with one client for every protocol: nghttp2's h2load sends
--latency-requests requests one at a time (v1 and v2 JSON over HTTP/1.1, the small ModelInfer over HTTP/2) and logs
each one's time, so REST and gRPC p50s, and ours and KServe's, are measured by the same C client.
A warm-up run (same load, discarded) precedes every measured run. Every load loop is bounded by time (the tool's
duration plus a kill timeout) and by count (BENCH_MAX_REQUESTS / --max-requests); all targets are 127.0.0.1.

Reports throughput, p50/p99, idle and loaded (peak while measured) RSS of every process, start-to-ready, our/KServe and
our/ceiling ratios, server CPU per request, and the issue's targets with pass/fail; writes BENCHMARKS.md, a chart
(PNG) and the raw results (JSON), and (full runs) rewrites the README's part between the bench markers. Everything it
started is stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "Tests" / "bench"
HOST = "127.0.0.1"  # loopback only, always
MODEL = "echo"

# --------------------------------------------------------------------------------------------
# workloads and targets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: str  # "http" or "grpc"
    lua: str = ""  # wrk script (http)
    grpc_workload: str = ""  # loadgen --workload (grpc)
    big: bool = False  # 4 MB payloads: longer timeouts
    ceiling: bool = True  # the C ceiling answers it (False: a real model; ceiling n/a)


WORKLOADS = {
    "v1": Workload("v1", "v1 small JSON predict", "http", lua="wrk_v1_predict.lua"),
    "v2json": Workload("v2json", "v2 small JSON infer", "http", lua="wrk_v2_infer.lua"),
    "v2bin": Workload("v2bin", "v2 binary 4 MB FP32 echo", "http", lua="wrk_v2_binary.lua", big=True),
    "grpc": Workload("grpc", "gRPC small ModelInfer", "grpc", grpc_workload="small"),
    "grpc4mb": Workload("grpc4mb", "gRPC 4 MB FP32 raw", "grpc", grpc_workload="fp32-4mb", big=True),
    "xgb": Workload("xgb", "v1 XGBoost predict, 4 rows", "http", lua="wrk_xgb_predict.lua", ceiling=False),
}

FULL_PLAN = [(w, c) for w in ["v1", "v2json", "v2bin", "grpc", "grpc4mb", "xgb"] for c in (1, 16)]
QUICK_PLAN = [("v1", 16), ("v2json", 16), ("v2bin", 1), ("grpc", 16), ("xgb", 16)]

XGB_MODEL = "xgb"  # the xgb workload's model name (also in wrk_xgb_predict.lua)
XGB_ROWS = 4  # rows per request of the xgb workload

SERVER_ORDER = ["ours", "kserve", "ceiling"]
SERVER_TITLES = {"ours": "kserve-swift", "kserve": "KServe 0.21", "ceiling": "C libfcgi ceiling"}

# --------------------------------------------------------------------------------------------
# process bookkeeping: everything we start is registered here and stopped at exit
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def proc_stat(pid: int) -> Optional[tuple[str, int, int, int]]:
    """(state, ppid, pgid, starttime) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[19])


def alive(pid: int) -> bool:
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[0] not in ("Z", "X"):
            children.setdefault(st[1], []).append(int(name))
    out, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return sorted(out)


def rss_kb(pid: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def private_kb(pid: int) -> Optional[tuple[int, int]]:
    """(USS, PSS) in kB from /proc/PID/smaps_rollup: the memory only this process holds (private pages) and its
    proportional share of the pages it shares (the binary's code, shared libraries)."""
    try:
        uss = pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                uss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
        return uss, pss
    except (OSError, ValueError, IndexError):
        return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = data[data.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


class Reaper:
    """Remembers every process we started (and their descendants, by pid and start time) and stops them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: list[subprocess.Popen] = []
        self.known: dict[int, int] = {}  # pid -> starttime, of descendants seen so far

    def add(self, p: subprocess.Popen) -> subprocess.Popen:
        with self.lock:
            self.procs.append(p)
        self.note(p.pid)
        return p

    def note(self, pid: int) -> None:
        with self.lock:
            for d in [pid] + descendants(pid):
                st = proc_stat(d)
                if st:
                    self.known[d] = st[3]

    def _ours(self, pid: int) -> bool:
        st = proc_stat(pid)
        return st is not None and st[0] not in ("Z", "X") and self.known.get(pid) == st[3]

    def stop(self, p: subprocess.Popen, grace: float = 8.0) -> None:
        """SIGTERM the process (graceful for kserve-master, KServe and nginx-less children), then SIGKILL whatever of
        its tree is left after `grace` seconds."""
        if p.poll() is None:
            self.note(p.pid)
        tree = [p.pid] + descendants(p.pid) if p.poll() is None else []
        with self.lock:
            for d in tree:
                st = proc_stat(d)
                if st:
                    self.known[d] = st[3]
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        for d in tree:
            if d != p.pid and self._ours(d):
                try:
                    os.kill(d, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            if p in self.procs:
                self.procs.remove(p)

    def stop_all(self) -> None:
        with self.lock:
            procs = list(reversed(self.procs))
        for p in procs:
            self.stop(p, grace=5.0)
        # Anything still around from a tree we saw (a respawned worker, a grandchild): by pid and start time only.
        with self.lock:
            leftovers = [pid for pid in self.known if self._ours(pid)]
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


REAPER = Reaper()


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 1.0) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    except OSError:
        return 0
    except http.client.HTTPException:
        return 0
    finally:
        conn.close()


def http_post(port: int, path: str, body: bytes, headers: dict, timeout: float = 30.0) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def substitute(template: str, values: dict[str, str], name: str) -> str:
    """The master's {{name}} substitution (Sources/KServeMaster/NginxConfig.swift): an unknown placeholder fails."""
    out, rest = [], template
    while True:
        i = rest.find("{{")
        if i < 0:
            out.append(rest)
            return "".join(out)
        out.append(rest[:i])
        j = rest.find("}}", i + 2)
        if j < 0:
            raise SystemExit(f"{name}: unterminated {{{{ placeholder")
        key = rest[i + 2:j].strip()
        if key not in values:
            raise SystemExit(f"{name}: unknown placeholder {{{{{key}}}}}")
        out.append(values[key])
        rest = rest[j + 2:]


def nginx_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def binary_has(path: Path, needle: bytes) -> bool:
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(needle) >= 0
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------


@dataclass
class ProcInfo:
    pid: int
    role: str
    idle_kb: Optional[int] = None
    idle_uss_kb: Optional[int] = None
    idle_pss_kb: Optional[int] = None
    peak_kb: Optional[int] = None


class Server:
    key = ""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.http_port = free_port()
        self.grpc_port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.extra: list[subprocess.Popen] = []
        self.ready_s: Optional[float] = None
        self.grpc_ready_s: Optional[float] = None
        self.procs: dict[int, ProcInfo] = {}
        self.problems: list[str] = []
        self.lock = threading.RLock()

    # subclasses: start() sets self.proc (and self.extra), returns the start time (monotonic)
    def start(self) -> float:
        raise NotImplementedError

    def roots(self) -> list[subprocess.Popen]:
        return ([self.proc] if self.proc else []) + self.extra

    def classify(self, pid: int) -> str:
        raise NotImplementedError

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.roots())

    def wait_ready(self, t0: float, timeout: float) -> None:
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.key} exited during start-up; log {self.log_path}:\n{tail(self.log_path)}")
            if http_get(self.http_port, "/v2/health/ready", timeout=0.5) == 200:
                self.ready_s = time.monotonic() - t0
                break
            time.sleep(0.005)
        else:
            raise RuntimeError(f"{self.key} not ready after {timeout:.0f} s; log {self.log_path}:\n{tail(self.log_path)}")
        if self.grpc_port:
            deadline = min(deadline, time.monotonic() + 30)
            while time.monotonic() < deadline:
                if tcp_open(self.grpc_port):
                    self.grpc_ready_s = time.monotonic() - t0
                    break
                time.sleep(0.01)
            else:
                self.problems.append(f"gRPC port {self.grpc_port} never opened")
                self.grpc_port = None

    def refresh(self) -> None:
        """Finds the server's processes (new ones too, e.g. a respawned worker)."""
        for root in self.roots():
            if root.poll() is not None:
                continue
            REAPER.note(root.pid)
            for pid in [root.pid] + descendants(root.pid):
                with self.lock:
                    if pid not in self.procs:
                        self.procs[pid] = ProcInfo(pid, self.classify(pid))

    def sample(self, idle: bool) -> None:
        self.refresh()
        with self.lock:
            for info in self.procs.values():
                kb = rss_kb(info.pid)
                if kb is None:
                    continue
                if idle:
                    info.idle_kb = kb
                    priv = private_kb(info.pid)
                    if priv:
                        info.idle_uss_kb, info.idle_pss_kb = priv
                info.peak_kb = max(info.peak_kb or 0, kb)

    def cpu(self) -> float:
        """CPU seconds used so far by the server's live processes."""
        self.refresh()
        with self.lock:
            pids = list(self.procs)
        return sum(cpu_seconds(pid) for pid in pids)

    def wait_idle(self, max_wait: float = 30.0) -> float:
        """Waits until the server uses (almost) no CPU: a load tool that stopped may leave requests in progress (wrk
        drops its connections at the end, a slow server still works on them). Returns the seconds waited."""
        t0 = time.monotonic()
        quiet = 0
        last = self.cpu()
        while time.monotonic() - t0 < max_wait and quiet < 2:
            time.sleep(0.2)
            now = self.cpu()
            quiet = quiet + 1 if now - last <= 0.02 else 0  # <= 10% of a core
            last = now
        waited = time.monotonic() - t0
        if waited > 3:
            log(f"  ({self.key} was busy with earlier requests for {waited:.0f} s before this run)")
        return waited

    def stop(self) -> None:
        for p in reversed(self.roots()):
            REAPER.stop(p)


class OursServer(Server):
    key = "ours"

    def __init__(self, workdir: Path, binary: Path, workers: int, grpc: bool, nginx_workers: int,
                 nginx_template: Path, xgb_model: Optional[Path] = None):
        super().__init__(workdir)
        self.binary = binary
        self.xgb_model = xgb_model
        self.nginx_template = nginx_template
        self.workers = workers
        self.grpc_port = free_port() if grpc else None
        self.nginx_workers = nginx_workers

    def config_text(self) -> str:
        run_dir = self.workdir / "run"
        lines = [
            "# make bench: temp config (echo model, nginx, gRPC)",
            "[server]",
            f"workers = {self.workers}",
            "threads = 1",
            f'run_dir = "{run_dir}"',
            "grace_period = 5",
            "",
            "[http]",
            f'host = "{HOST}"',
            f"port = {self.http_port}",
            "nginx = true",
            f'nginx_template = "{self.nginx_template}"',
            f"nginx_workers = {self.nginx_workers}",
            'max_body_size = "64m"',
            "",
            "[grpc]",
            f"enable = {'true' if self.grpc_port else 'false'}",
            f'host = "{HOST}"',
            f"port = {self.grpc_port or free_port()}",
            "",
            "[[models]]",
            f'name = "{MODEL}"',
            'kind = "echo"',
            "",
        ]
        if self.xgb_model:
            lines += [
                "[[models]]",
                f'name = "{XGB_MODEL}"',
                'kind = "xgboost"',
                f'path = "{self.xgb_model}"',
                "",
            ]
        return "\n".join(lines)

    def start(self) -> float:
        cfg = self.workdir / "kserve.toml"
        cfg.write_text(self.config_text())
        logf = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.proc = REAPER.add(subprocess.Popen(
            [str(self.binary), "-c", str(cfg)], stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            cwd=self.workdir, start_new_session=True))
        logf.close()
        return t0

    def classify(self, pid: int) -> str:
        if self.proc and pid == self.proc.pid:
            return "master"
        cmd = cmdline(pid)
        if cmd.startswith("nginx: master"):
            return "nginx master"
        if cmd.startswith("nginx: worker"):
            return "nginx worker"
        if cmd.startswith("nginx"):
            return "nginx"
        env = environ(pid)
        role = env.get("KSERVE_ROLE", "")
        if role == "worker":
            return f"worker {env.get('KSERVE_WORKER_ID', '?')}"
        if role == "grpc":
            return "gRPC process"
        return Path(cmd.split(" ")[0]).name or "?"


class KServeServer(Server):
    key = "kserve"

    def __init__(self, workdir: Path, python: Path, workers: int, xgb_model: Optional[Path] = None):
        super().__init__(workdir)
        self.python = python
        self.workers = workers
        self.grpc_port = free_port()
        self.xgb_model = xgb_model

    def start(self) -> float:
        logf = open(self.log_path, "wb")
        t0 = time.monotonic()
        xgb = ["--xgb_model_dir", str(self.xgb_model), "--xgb_model_name", XGB_MODEL] if self.xgb_model else []
        self.proc = REAPER.add(subprocess.Popen(
            [str(self.python), str(BENCH / "kserve_echo.py"), "--http_port", str(self.http_port),
             "--grpc_port", str(self.grpc_port), "--workers", str(self.workers), "--model_name", MODEL] + xgb,
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=self.workdir,
            start_new_session=True))
        logf.close()
        return t0

    def classify(self, pid: int) -> str:
        if self.proc and pid == self.proc.pid:
            return "main (gRPC server)"
        cmd = cmdline(pid)
        if "resource_tracker" in cmd:
            return "resource tracker"
        if "multiprocessing.spawn" in cmd or "multiprocessing-fork" in cmd:
            with self.lock:
                n = sum(1 for i in self.procs.values() if i.role.startswith("uvicorn worker"))
            return f"uvicorn worker {n}"
        return Path(cmd.split(" ")[0]).name or "?"


class CeilingServer(Server):
    key = "ceiling"

    def __init__(self, workdir: Path, responder: Path, workers: int, nginx_workers: int, nginx_template: Path,
                 ours: Optional[OursServer]):
        super().__init__(workdir)
        self.responder = responder
        self.workers = workers
        self.nginx_workers = nginx_workers
        self.nginx_template = nginx_template
        self.ours = ours
        self.sock: Optional[socket.socket] = None
        self.run = workdir / "run"
        self.sock_path = self.run / "kserve.sock"
        self.config_origin = ""

    def derive_from_ours(self) -> Optional[Path]:
        """The exact nginx config our master rendered, moved to our own folder, port and socket."""
        o = self.ours
        if o is None or o.ready_s is None:
            return None
        orun = o.workdir / "run"
        main, locations = orun / "nginx.conf", orun / "kserve-locations.conf"
        if not main.exists():
            return None
        listen_old, listen_new = f"{HOST}:{o.http_port}", f"{HOST}:{self.http_port}"

        def move(text: str) -> str:
            return text.replace(str(orun), str(self.run)).replace(listen_old, listen_new)

        text = main.read_text()
        if listen_old not in text:
            return None
        (self.run / "nginx" / "logs").mkdir(parents=True, exist_ok=True)
        if locations.exists():
            (self.run / "kserve-locations.conf").write_text(move(locations.read_text()))
        # The ceiling serves REST only: our gRPC server block (nginx's HTTP/2 listener) is left out.
        text = "\n".join("    # (gRPC server block left out: the ceiling serves REST only)"
                          if line.strip().startswith("include") and "kserve-grpc.conf" in line else line
                          for line in text.split("\n"))
        out = self.run / "nginx.conf"
        out.write_text(move(text))
        self.config_origin = f"our master's rendered {main.name}, moved to this port and socket"
        return out

    def render_nginx(self) -> Path:
        """Renders the templates like Sources/KServeMaster/NginxConfig.swift does, with the default config's values
        (used when our stack is not part of the run)."""
        run = self.run
        prefix = run / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        template = self.nginx_template
        locations_template = template.parent / "kserve-locations.conf"
        root = os.geteuid() == 0
        values = {
            "user_line": "user root;  # the master runs as root: nginx workers need the 0660 socket" if root
            else "# (no user directive: nginx runs as the user that started kserve-master)",
            "worker_processes": str(self.nginx_workers),
            "error_log_level": "warn",
            "error_log": "stderr",
            "run_dir": nginx_escape(str(run)),
            "nginx_dir": nginx_escape(str(prefix)),
            "listen": f"{HOST}:{self.http_port}",
            "socket_path": nginx_escape(str(self.sock_path)),
            "locations_file": nginx_escape(str(run / "kserve-locations.conf")),
            "client_max_body_size": str(64 << 20),
            "large_header_buffer": str(8 << 10),
            "fastcgi_read_timeout": "300s",
            "status_path": "/.kserve-status-off",
            "status_snapshot": nginx_escape(str(run / "status.json")),
            "grpc_server": "# (gRPC is not served by the ceiling)",
        }
        if locations_template.exists():
            (run / "kserve-locations.conf").write_text(
                substitute(locations_template.read_text(), values, str(locations_template)))
        main = run / "nginx.conf"
        main.write_text(substitute(template.read_text(), values, str(template)))
        self.config_origin = f"rendered from {template.name} by the bench runner"
        return main

    def start(self) -> float:
        self.run.mkdir(parents=True, exist_ok=True)
        conf = self.derive_from_ours() or self.render_nginx()
        run = self.run
        sock_path = self.sock_path
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        logf = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(sock_path))
        os.chmod(sock_path, 0o660)
        self.sock.listen(511)
        for _ in range(self.workers):
            self.extra.append(REAPER.add(subprocess.Popen(
                [str(self.responder)], stdin=self.sock.fileno(), stdout=logf, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True)))
        self.proc = REAPER.add(subprocess.Popen(
            [nginx, "-p", str(run / "nginx") + "/", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=logf,
            stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True))
        logf.close()
        return t0

    def classify(self, pid: int) -> str:
        cmd = cmdline(pid)
        if cmd.startswith("nginx: master"):
            return "nginx master"
        if cmd.startswith("nginx: worker"):
            return "nginx worker"
        for i, p in enumerate(self.extra):
            if p.pid == pid:
                return f"responder {i}"
        return Path(cmd.split(" ")[0]).name or "?"

    def stop(self) -> None:
        super().stop()
        if self.sock:
            self.sock.close()
            self.sock = None


# --------------------------------------------------------------------------------------------
# sanity checks (one request per workload, before measuring)
# --------------------------------------------------------------------------------------------

SMALL_V1 = b'{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}'
SMALL_V2 = (b'{"id":"bench","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP32",'
            b'"data":[6.8,2.8,4.8,1.4,6.0,3.4,4.5,1.6]}]}')


@dataclass
class XgbSetup:
    """The xgb workload's model and request (Tests/bench/kserve_xgb.py --train), and what each server answered."""
    folder: Path
    model_dir: Path  # the folder holding model.json (both servers find the file in it)
    request: Path  # the v1 body, also read by wrk_xgb_predict.lua (BENCH_BODY_FILE)
    body: bytes
    expected: list  # Booster.predict in Python on the same rows
    xgboost: str
    train_s: float
    answers: dict = field(default_factory=dict)  # server key -> predictions of the check request
    agree: Optional[bool] = None  # None: nothing compared
    detail: str = ""


# Extra request bodies of wrk scripts (workload key -> file, passed as BENCH_BODY_FILE).
BODY_FILES: dict[str, Path] = {}


def prepare_xgb(python: Path, folder: Path) -> XgbSetup:
    """Trains the benchmark model and writes its request (deterministic: the same files on every run)."""
    t0 = time.monotonic()
    rc, out, err = run_tool([str(python), str(BENCH / "kserve_xgb.py"), "--train", str(folder),
                             "--rows", str(XGB_ROWS)], timeout=300)
    train_s = time.monotonic() - t0
    if rc != 0:
        raise RuntimeError(f"{BENCH / 'kserve_xgb.py'} --train failed (exit {rc}): {(out + err).strip()[-300:]}")
    expected = json.loads((folder / "expected.json").read_text())
    request = folder / "request.json"
    return XgbSetup(folder, folder / "model", request, request.read_bytes(), expected["predictions"],
                    expected.get("xgboost", "?"), train_s)


def f32_bits(v) -> Optional[int]:
    """The float32 bit pattern of a JSON number (both servers' answers are float32 values), None if not a number."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return struct.unpack("<I", struct.pack("<f", v))[0]
    except (OverflowError, struct.error):
        return None


def compare_xgb(x: XgbSetup) -> None:
    """Sets x.agree / x.detail: every server's predictions against xgboost's and against each other, as float32."""

    def diff(a: list, b: list) -> Optional[str]:
        if len(a) != len(b):
            return f"{len(a)} vs {len(b)} values"
        bad = [(i, u, v) for i, (u, v) in enumerate(zip(a, b)) if f32_bits(u) is None or f32_bits(u) != f32_bits(v)]
        if not bad:
            return None
        i, u, v = bad[0]
        return f"{len(bad)} of {len(a)} values differ, first [{i}]: {u!r} vs {v!r}"

    named = [(SERVER_TITLES[k], x.answers[k]) for k in SERVER_ORDER if k in x.answers]
    if not named:
        x.agree, x.detail = None, "no server answered the check request"
        return
    pairs = [(f"{n} vs xgboost {x.xgboost} Booster.predict", a, x.expected) for n, a in named]
    if len(named) == 2:
        pairs.append((f"{named[0][0]} vs {named[1][0]}", named[0][1], named[1][1]))
    found = [(what, d) for what, a, b in pairs for d in [diff(a, b)] if d]
    x.agree = not found
    if found:
        x.detail = "; ".join(f"{what}: {d}" for what, d in found)
    else:
        x.detail = (f"{len(x.expected)} predictions equal as float32 ("
                    + ", ".join(n for n, _ in named) + f", xgboost {x.xgboost})")


def check_http(server: Server, wl: Workload, xgb: Optional[XgbSetup] = None) -> Optional[str]:
    """None if the server answers the workload's request as it should (an echo, or the xgb model's predictions: kept
    in xgb.answers for compare_xgb), else what is wrong."""
    try:
        if wl.key == "xgb":
            if xgb is None:
                return "no xgb model"
            st, _, body = http_post(server.http_port, f"/v1/models/{XGB_MODEL}:predict", xgb.body,
                                    {"Content-Type": "application/json"})
            if st != 200:
                return f"HTTP {st}: {body[:200]!r}"
            preds = json.loads(body).get("predictions")
            if not isinstance(preds, list) or len(preds) != len(xgb.expected):
                return f"not {len(xgb.expected)} predictions: {body[:200]!r}"
            xgb.answers[server.key] = preds
            return None
        if wl.key == "v1":
            st, _, body = http_post(server.http_port, f"/v1/models/{MODEL}:predict", SMALL_V1,
                                    {"Content-Type": "application/json"})
            if st != 200:
                return f"HTTP {st}: {body[:200]!r}"
            if server.key != "ceiling" and json.loads(body).get("predictions") != json.loads(SMALL_V1)["instances"]:
                return f"not an echo: {body[:200]!r}"
        elif wl.key == "v2json":
            st, _, body = http_post(server.http_port, f"/v2/models/{MODEL}/infer", SMALL_V2,
                                    {"Content-Type": "application/json"})
            if st != 200:
                return f"HTTP {st}: {body[:200]!r}"
            if server.key != "ceiling":
                outs = json.loads(body).get("outputs") or [{}]
                if [round(x, 3) for x in outs[0].get("data", [])] != [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]:
                    return f"not an echo: {body[:200]!r}"
        elif wl.key == "v2bin":
            n = 1 << 20
            header = json.dumps({"id": "bench", "inputs": [{"name": "input-0", "shape": [1, n], "datatype": "FP32",
                                                             "parameters": {"binary_data_size": 4 * n}}],
                                 "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
            raw = struct.pack("<f", 1.0) * n
            st, headers, body = http_post(server.http_port, f"/v2/models/{MODEL}/infer", header + raw,
                                          {"Content-Type": "application/octet-stream",
                                           "Inference-Header-Content-Length": str(len(header))}, timeout=60)
            if st != 200:
                return f"HTTP {st}: {body[:200]!r}"
            hl = int(headers.get("inference-header-content-length", "-1"))
            if hl < 0 or body[hl:] != raw:
                return f"no 4 MiB binary echo (header length {hl}, body {len(body)} bytes)"
    except (OSError, http.client.HTTPException, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


# --------------------------------------------------------------------------------------------
# load runs
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    server: str
    workload: str
    concurrency: int
    rps: Optional[float] = None
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    max_ms: Optional[float] = None
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_us_per_req: Optional[float] = None  # server CPU (all its processes) per completed request
    note: str = ""

    def ok(self) -> bool:
        return self.rps is not None and self.requests > 0


class Sampler:
    """Samples the RSS of the loaded server's processes every 0.25 s while a run goes on."""

    def __init__(self, server: Server):
        self.server = server
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop_event.wait(0.25):
            try:
                self.server.sample(idle=False)
            except Exception:  # a process that vanished between listing and reading
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=2)
        self.server.sample(idle=False)


def run_tool(cmd: list[str], timeout: float, env: Optional[dict] = None) -> tuple[int, str, str]:
    """Runs a load tool to completion, killing it after `timeout` seconds (and on Ctrl-C)."""
    p = REAPER.add(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        REAPER.stop(p, grace=1)
        out, err = p.communicate()
        err = (err or b"") + f"\n(killed after {timeout:.0f} s)".encode()
    except BaseException:
        REAPER.stop(p, grace=1)
        raise
    with REAPER.lock:
        if p in REAPER.procs:
            REAPER.procs.remove(p)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def wrk_run(args, server: Server, wl: Workload, conc: int, seconds: float) -> dict:
    threads = 1 if conc == 1 else min(2, conc)
    timeout_s = 60 if wl.big else 10
    env = dict(os.environ, BENCH_MAX_REQUESTS=str(args.max_requests))
    if wl.key in BODY_FILES:
        env["BENCH_BODY_FILE"] = str(BODY_FILES[wl.key])
    cmd = [args.wrk, f"-t{threads}", f"-c{conc}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s}s",
           "-s", str(BENCH / wl.lua), f"http://{HOST}:{server.http_port}"]
    rc, out, err = run_tool(cmd, timeout=seconds + timeout_s + 30, env=env)
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk gave no result (exit {rc}): {(out + err).strip()[-400:]}")


def loadgen_run(args, server: Server, wl: Workload, conc: int, seconds: float, warmup: float) -> dict:
    timeout_s = 60 if wl.big else 10
    cmd = [str(args.loadgen), "--host", HOST, "--port", str(server.grpc_port), "--model", MODEL,
           "--workload", wl.grpc_workload, "--concurrency", str(conc), "--duration", str(seconds),
           "--warmup", str(warmup), "--max-requests", str(args.max_requests), "--timeout", str(timeout_s)]
    rc, out, err = run_tool(cmd, timeout=warmup + seconds + timeout_s + 30)
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"loadgen gave no result (exit {rc}): {(out + err).strip()[-400:]}")


def measure(args, server: Server, wl: Workload, conc: int) -> RunResult:
    r = RunResult(server.key, wl.key, conc)
    if not server.alive():
        r.note = "server not running"
        return r
    seconds = args.big_seconds if wl.big else args.seconds
    try:
        if wl.kind == "http":
            if args.warmup > 0:
                wrk_run(args, server, wl, conc, args.warmup)
            server.wait_idle()
            cpu0 = server.cpu()
            with Sampler(server):
                d = wrk_run(args, server, wl, conc, seconds)
            cpu1 = server.cpu()
            r.seconds = d["duration_us"] / 1e6
            bad = d["errors_status"] + d["errors_connect"] + d["errors_read"] + d["errors_write"] + d["errors_timeout"]
            good = max(0, d["requests"] - d["errors_status"])
            r.requests, r.errors = good, bad
            r.rps = good / r.seconds if r.seconds > 0 else 0.0
            if good > 0:
                r.p50_ms, r.p90_ms, r.p99_ms = d["p50_us"] / 1000, d["p90_us"] / 1000, d["p99_us"] / 1000
                r.max_ms = d["max_us"] / 1000
            if d["requests"] >= args.max_requests * (1 if conc == 1 else min(2, conc)):
                r.note = "count bound (--max-requests) reached before the time bound: req/s understated; "
            if bad:
                r.note += (f"{bad} errors (status {d['errors_status']}, connect {d['errors_connect']}, "
                          f"read {d['errors_read']}, write {d['errors_write']}, timeout {d['errors_timeout']})")
        else:
            server.wait_idle()
            # The loadgen's warm-up runs inside the same process; CPU is counted over both phases and divided by
            # the calls of both (the rate is the same load), so only the measured phase's count is needed here.
            cpu0 = server.cpu()
            with Sampler(server):
                d = loadgen_run(args, server, wl, conc, seconds, args.warmup)
            cpu1 = server.cpu()
            cpu1 = cpu0 + (cpu1 - cpu0) * (seconds / (seconds + args.warmup)) if args.warmup > 0 else cpu1
            r.seconds = d["seconds"]
            r.requests, r.errors = d["requests"], d["errors"]
            r.rps = d["rps"]
            if r.requests > 0:
                r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms = d["p50_ms"], d["p90_ms"], d["p99_ms"], d["max_ms"]
            if r.errors:
                r.note = f"{r.errors} errors, first: {d.get('first_error')}"
        if r.requests > 0:
            r.cpu_us_per_req = (cpu1 - cpu0) / r.requests * 1e6
    except (RuntimeError, ValueError, KeyError) as e:
        r.note = str(e)[:300]
    if r.requests == 0:
        r.rps = None
        if not r.note:
            r.note = f"no request completed within {seconds:g} s"
    elif r.requests < 20:
        r.note = (r.note + "; " if r.note else "") + f"only {r.requests} request(s) completed: percentiles are rough"
    return r


# --------------------------------------------------------------------------------------------
# one client for every protocol: sequential latency with h2load (nghttp2's C load generator)
# --------------------------------------------------------------------------------------------
#
# wrk (REST) and kserve-grpc-loadgen (gRPC) are different clients with different costs of their own: the loadgen's
# grpc-swift client adds about as much to a small call's p50 as our server takes. Comparing a gRPC p50 with a REST
# p50, or two servers' gRPC p50 with a slow client, mixes the client into the ratio. h2load speaks HTTP/1.1
# (REST) and HTTP/2 (gRPC: POST with content-type application/grpc and te: trailers) from the same C code, one
# request at a time, and logs each request's time: the same yardstick for every protocol and every server.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def grpc_small_message() -> bytes:
    """The loadgen's `small` ModelInfer (one FP32 [2,4] input in fp32_contents), as a length-prefixed gRPC message.

    Written field by field from grpc_predict_v2.proto (ModelInferRequest: model_name 1, inputs 5; InferInputTensor:
    name 1, datatype 2, shape 3, contents 5; InferTensorContents: fp32_contents 6), so no protobuf package is needed.
    """
    values = [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]
    contents = _field(6, struct.pack(f"<{len(values)}f", *values))
    tensor = (_field(1, b"input-0") + _field(2, b"FP32") + _field(3, _varint(2) + _varint(4))
              + _field(5, contents))
    message = _field(1, MODEL.encode()) + _field(5, tensor)
    return b"\0" + struct.pack(">I", len(message)) + message


@dataclass(frozen=True)
class LatencyCase:
    key: str
    title: str
    kind: str  # "http" or "grpc"
    path: str
    content_type: str
    body: bytes


LATENCY_CASES = [
    LatencyCase("v1", "REST v1 small JSON predict", "http", "/v1/models/echo:predict", "application/json",
                b'{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}'),
    LatencyCase("v2json", "REST v2 small JSON infer", "http", "/v2/models/echo/infer", "application/json",
                b'{"id":"bench","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP32",'
                b'"data":[6.8,2.8,4.8,1.4,6.0,3.4,4.5,1.6]}]}'),
    LatencyCase("grpc", "gRPC small ModelInfer", "grpc", "/inference.GRPCInferenceService/ModelInfer",
                "application/grpc", grpc_small_message()),
]


@dataclass
class LatencyResult:
    server: str
    case: str
    requests: int = 0
    errors: int = 0
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    p99_ms: Optional[float] = None
    cpu_us_per_req: Optional[float] = None
    note: str = ""


def grpc_answers_ok(port: int, body: bytes) -> Optional[str]:
    """None when one small ModelInfer on `port` ends with status OK (h2load does not read gRPC trailers)."""
    try:
        import grpc  # KServe's venv has grpcio
    except ImportError:
        return None  # cannot check here; h2load's HTTP status is still checked
    channel = grpc.insecure_channel(f"{HOST}:{port}")
    try:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        answer = call(body[5:], timeout=10)
        return None if answer else "empty answer"
    except grpc.RpcError as e:
        return f"{e.code().name}: {e.details()}"
    finally:
        channel.close()


def h2load_run(args, server: Server, case: LatencyCase, n: int, log_file: Optional[Path]) -> tuple[int, str]:
    port = server.grpc_port if case.kind == "grpc" else server.http_port
    body = log_file.with_suffix(".body") if log_file else Path(tempfile.mkstemp(prefix="kserve-bench-")[1])
    body.write_bytes(case.body)
    cmd = [args.h2load, "-n", str(n), "-c", "1", "-m", "1", "-t", "1", "-d", str(body),
           "-H", f"content-type: {case.content_type}"]
    if case.kind == "grpc":
        cmd += ["-H", "te: trailers"]
    else:
        cmd += ["--h1"]
    if log_file:
        cmd += [f"--log-file={log_file}"]
    cmd.append(f"http://{HOST}:{port}{case.path}")
    rc, out, err = run_tool(cmd, timeout=60 + n * 0.05)
    return rc, out + err


def measure_latency(args, server: Server, case: LatencyCase, workdir: Path) -> LatencyResult:
    r = LatencyResult(server.key, case.key)
    if case.kind == "grpc":
        why = grpc_answers_ok(server.grpc_port, case.body)
        if why:
            r.note = f"wrong answer to the check call: {why}"
            return r
    warm = max(50, args.latency_requests // 10)
    rc, text = h2load_run(args, server, case, warm, None)
    if rc != 0:
        r.note = f"h2load failed (exit {rc}): {text.strip()[-300:]}"
        return r
    server.wait_idle()
    log_file = workdir / f"h2load-{server.key}-{case.key}.log"
    cpu0 = server.cpu()
    rc, text = h2load_run(args, server, case, args.latency_requests, log_file)
    cpu1 = server.cpu()
    times, bad = [], 0
    try:
        for line in log_file.read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            if parts[1] != "200":
                bad += 1
            else:
                times.append(int(parts[2]) / 1000)
    except OSError as e:
        r.note = f"no h2load log: {e}"
        return r
    r.requests, r.errors = len(times), bad
    if times:
        times.sort()
        pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
        r.p50_ms, r.p90_ms, r.p99_ms = pick(0.5), pick(0.9), pick(0.99)
        r.cpu_us_per_req = (cpu1 - cpu0) / (len(times) + bad) * 1e6
    if bad or rc != 0:
        r.note = f"{bad} answers not 200; h2load exit {rc}"
    return r


@dataclass
class ThroughputResult:
    server: str
    case: str
    concurrency: int
    rps: Optional[float] = None
    ok: int = 0
    failed: int = 0
    cpu_us_per_req: Optional[float] = None
    note: str = ""


def measure_throughput(args, server: Server, case: LatencyCase, conc: int) -> ThroughputResult:
    """`conc` requests in flight from h2load for args.seconds (after args.warmup): gRPC as `conc` streams on one
    HTTP/2 connection (as the loadgen's calls in flight), REST as `conc` HTTP/1.1 keep-alive connections (as wrk)."""
    r = ThroughputResult(server.key, case.key, conc)
    port = server.grpc_port if case.kind == "grpc" else server.http_port
    body = Path(tempfile.mkstemp(prefix="kserve-bench-h2load-")[1])
    body.write_bytes(case.body)
    cmd = [args.h2load, "-D", str(max(1, round(args.seconds))), "--warm-up-time", str(max(1, round(args.warmup))),
           "-t", "1", "-d", str(body), "-H", f"content-type: {case.content_type}"]
    if case.kind == "grpc":
        cmd += ["-c", "1", "-m", str(conc), "-H", "te: trailers"]
    else:
        cmd += ["-c", str(conc), "-m", "1", "--h1"]
    cmd.append(f"http://{HOST}:{port}{case.path}")
    server.wait_idle()
    cpu0 = server.cpu()
    with Sampler(server):
        rc, out, err = run_tool(cmd, timeout=args.seconds + args.warmup + 60)
    cpu1 = server.cpu()
    body.unlink(missing_ok=True)
    text = out + err
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    s2 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    rq = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    if not m or not s2 or not rq:
        r.note = f"no h2load result (exit {rc}): {text.strip()[-300:]}"
        return r
    r.rps = float(m.group(3))
    r.ok = int(s2.group(1))
    r.failed = int(rq.group(3)) + sum(int(s2.group(k)) for k in (2, 3, 4))
    # h2load's counts cover the measured phase; the CPU covers warm-up too, at the same rate.
    seconds = args.seconds + args.warmup
    if r.rps and seconds > 0:
        r.cpu_us_per_req = (cpu1 - cpu0) / (r.rps * seconds) * 1e6
    if r.failed:
        r.note = f"{r.failed} failed or not 2xx"
    return r


def h2load_rows(results: dict, cells: Callable) -> list[list[str]]:
    """One row per case and server of the h2load runs: title, server, then `cells(result)`, then the note."""
    rows = []
    for case in LATENCY_CASES:
        for key in SERVER_ORDER:
            r = results.get((key, case.key))
            if r is not None:
                cpu = "-" if r.cpu_us_per_req is None else f"{r.cpu_us_per_req:,.0f}"
                rows.append([case.title, SERVER_TITLES[key], *cells(r), cpu, r.note or ""])
    return rows


def throughput_rows(results: dict) -> list[list[str]]:
    return h2load_rows(results, lambda r: [str(r.concurrency), fmt_rps(r.rps)])


THROUGHPUT_HEAD = ["workload (h2load)", "server", "in flight", "req/s", "server CPU µs/req", "note"]


def latency_rows(results: dict) -> list[list[str]]:
    return h2load_rows(results, lambda r: [f"{r.requests:,}", fmt_ms(r.p50_ms), fmt_ms(r.p90_ms), fmt_ms(r.p99_ms)])


LATENCY_HEAD = ["workload (c=1, h2load)", "server", "requests", "p50 ms", "p90 ms", "p99 ms", "server CPU µs/req",
                "note"]


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def fmt_rps(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    x = a / b
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def fmt_mb(kb: Optional[int]) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass

    def cmd(c: list[str]) -> str:
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=10, cwd=REPO).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = cmd(["git", "rev-parse", "--short=12", "HEAD"]) or "unknown"
    if cmd(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (+ uncommitted changes)"
    nginx_v = subprocess.run([shutil.which("nginx") or "nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / (1 << 20), 1),
        "kernel": platform.release(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "nginx": nginx_v.replace("nginx version: ", ""),
        "wrk": (cmd(["sh", "-c", "wrk -v 2>&1 | head -1"]).split(" [")[0] or "wrk"),
        "load_before": os.getloadavg()[0],
    }


@dataclass
class Target:
    text: str
    status: str  # PASS, FAIL, n/a
    measured: str


def evaluate_targets(results: dict, servers: dict[str, Server], xgb: Optional[XgbSetup] = None,
                     latency: Optional[dict] = None, throughput: Optional[dict] = None) -> list[Target]:
    def get(s: str, w: str, c: int) -> Optional[RunResult]:
        r = results.get((s, w, c))
        return r if r and r.ok() else None

    out: list[Target] = []

    def check(text: str, ok: Optional[bool], measured: str) -> None:
        out.append(Target(text, "n/a" if ok is None else ("PASS" if ok else "FAIL"), measured))

    for w, name in (("v1", "v1"), ("v2json", "v2 JSON")):
        o, k, c = get("ours", w, 16), get("kserve", w, 16), get("ceiling", w, 16)
        x = o.rps / k.rps if o and k and k.rps else None
        check(f"{name} small, c=16: throughput >= 5x KServe", None if x is None else x >= 5,
              "n/a" if x is None else f"{x:.1f}x ({fmt_rps(o.rps)} vs {fmt_rps(k.rps)} req/s)")
        y = o.rps / c.rps if o and c and c.rps else None
        check(f"{name} small, c=16: throughput >= 85% of the C ceiling", None if y is None else y >= 0.85,
              "n/a" if y is None else f"{y:.0%} ({fmt_rps(o.rps)} vs {fmt_rps(c.rps)} req/s)")
        check(f"{name} small, c=16: p99 < 10 ms", None if not o or o.p99_ms is None else o.p99_ms < 10,
              "n/a" if not o else f"{fmt_ms(o.p99_ms)} ms")
    for c in (1, 16):
        o, k = get("ours", "v2bin", c), get("kserve", "v2bin", c)
        if o or k or ("ours", "v2bin", c) in results:
            x = o.rps / k.rps if o and k and k.rps else None
            check(f"v2 binary 4 MB, c={c}: throughput >= 40x KServe", None if x is None else x >= 40,
                  "n/a" if x is None else f"{x:.1f}x ({fmt_rps(o.rps)} vs {fmt_rps(k.rps)} req/s)")
    o = get("ours", "v2bin", 1)
    if o or ("ours", "v2bin", 1) in results:
        check("v2 binary 4 MB, c=1: p50 < 15 ms", None if not o else o.p50_ms < 15,
              "n/a" if not o else f"{fmt_ms(o.p50_ms)} ms")
    o, k = get("ours", "grpc", 16), get("kserve", "grpc", 16)
    x = o.rps / k.rps if o and k and k.rps else None
    check("gRPC small, c=16: throughput >= 3x KServe", None if x is None else x >= 3,
          "n/a" if x is None else f"{x:.1f}x ({fmt_rps(o.rps)} vs {fmt_rps(k.rps)} req/s)")
    # Issue 15: server CPU per RPC (every process of each server, client excluded) at most 1/3 of KServe's;
    # the sequential p50 at most 1/3 of KServe's and at most 2x our own REST p50 at c=1.
    for c in (1, 16):
        o, k = get("ours", "grpc", c), get("kserve", "grpc", c)
        ok = None
        if o and k and o.cpu_us_per_req and k.cpu_us_per_req:
            ok = o.cpu_us_per_req <= k.cpu_us_per_req / 3
        check(f"gRPC small, c={c}: server CPU per RPC <= 1/3 of KServe's", ok,
              "n/a" if ok is None else f"{o.cpu_us_per_req:,.0f} vs {k.cpu_us_per_req:,.0f} us "
              f"({o.cpu_us_per_req / k.cpu_us_per_req:.2f}x)")
    o, k = get("ours", "grpc", 1), get("kserve", "grpc", 1)
    check("gRPC small, c=1: p50 <= 1/3 of KServe's", None if not (o and k) else o.p50_ms <= k.p50_ms / 3,
          "n/a" if not (o and k) else f"{fmt_ms(o.p50_ms)} vs {fmt_ms(k.p50_ms)} ms")
    rest = [r for r in (get("ours", "v1", 1), get("ours", "v2json", 1)) if r]
    if o and rest:
        best = min(r.p50_ms for r in rest)
        check("gRPC small, c=1: p50 <= 2x our REST p50 at c=1", o.p50_ms <= 2 * best,
              f"{fmt_ms(o.p50_ms)} vs {fmt_ms(best)} ms")
    # The same two p50 targets with one client for both protocols and both servers (h2load, C): the client's own
    # time no longer dilutes the ratio to KServe nor inflates gRPC against REST.
    lat = {k: v for k, v in (latency or {}).items() if v.p50_ms is not None and not v.errors}
    o, k = lat.get(("ours", "grpc")), lat.get(("kserve", "grpc"))
    if o and k:
        check("gRPC small, c=1, one C client (h2load): p50 <= 1/3 of KServe's", o.p50_ms <= k.p50_ms / 3,
              f"{fmt_ms(o.p50_ms)} vs {fmt_ms(k.p50_ms)} ms ({o.p50_ms / k.p50_ms:.2f}x)")
    rest = [v for v in (lat.get(("ours", "v1")), lat.get(("ours", "v2json"))) if v]
    if o and rest:
        best = min(v.p50_ms for v in rest)
        check("gRPC small, c=1, one C client (h2load): p50 <= 2x our REST p50", o.p50_ms <= 2 * best,
              f"{fmt_ms(o.p50_ms)} vs {fmt_ms(best)} ms ({o.p50_ms / best:.2f}x)")
    tp = {k: v for k, v in (throughput or {}).items() if v.rps and not v.failed}
    to, tk = tp.get(("ours", "grpc")), tp.get(("kserve", "grpc"))
    if to and tk:
        check("gRPC small, 16 in flight, one C client (h2load): throughput >= 3x KServe", to.rps >= 3 * tk.rps,
              f"{to.rps / tk.rps:.1f}x ({fmt_rps(to.rps)} vs {fmt_rps(tk.rps)} req/s)")
        if to.cpu_us_per_req and tk.cpu_us_per_req:
            check("gRPC small, 16 in flight, one C client (h2load): server CPU per RPC <= 1/3 of KServe's",
                  to.cpu_us_per_req <= tk.cpu_us_per_req / 3,
                  f"{to.cpu_us_per_req:,.0f} vs {tk.cpu_us_per_req:,.0f} us "
                  f"({to.cpu_us_per_req / tk.cpu_us_per_req:.2f}x)")
    if o and k and o.cpu_us_per_req and k.cpu_us_per_req:
        check("gRPC small, c=1, one C client (h2load): server CPU per RPC <= 1/3 of KServe's",
              o.cpu_us_per_req <= k.cpu_us_per_req / 3,
              f"{o.cpu_us_per_req:,.0f} vs {k.cpu_us_per_req:,.0f} us ({o.cpu_us_per_req / k.cpu_us_per_req:.2f}x)")
    for c in (1, 16):
        o, k = get("ours", "grpc4mb", c), get("kserve", "grpc4mb", c)
        if o or k or ("ours", "grpc4mb", c) in results:
            ok = None if not (o and k) else o.p50_ms <= k.p50_ms / 3
            check(f"gRPC 4 MB, c={c}: p50 <= 1/3 of KServe's", ok,
                  "n/a" if not (o and k) else f"{fmt_ms(o.p50_ms)} vs {fmt_ms(k.p50_ms)} ms")
    if xgb is not None:
        check("XGBoost v1 predict: predictions bit-identical (float32) to xgboost's Booster.predict, ours and KServe",
              xgb.agree, xgb.detail or "n/a")
    ours = servers.get("ours")
    if ours:
        workers = [i for i in ours.procs.values() if i.role.startswith("worker")]
        master = [i for i in ours.procs.values() if i.role == "master"]
        wmax = max((i.idle_kb for i in workers if i.idle_kb), default=None)
        check("Idle RSS <= 15 MB per worker", None if wmax is None else wmax <= 15 * 1024,
              "n/a" if wmax is None else f"{fmt_mb(wmax)} MB (largest worker)")
        m = master[0].idle_kb if master else None
        check("Idle RSS <= 10 MB for the master", None if m is None else m <= 10 * 1024,
              "n/a" if m is None else f"{fmt_mb(m)} MB")
        check("Start to /v2/health/ready < 1 s (2 workers)", None if ours.ready_s is None else ours.ready_s < 1,
              "n/a" if ours.ready_s is None else f"{ours.ready_s * 1000:.0f} ms")
    return out


def results_table(plan, results) -> list[list[str]]:
    rows = []
    for w, c in plan:
        o, k, e = (results.get((s, w, c)) for s in SERVER_ORDER)
        row = [WORKLOADS[w].title, str(c)]
        for key, r in zip(SERVER_ORDER, (o, k, e)):
            if key == "ceiling" and not WORKLOADS[w].ceiling:
                row += ["n/a", "n/a", "n/a"]  # the C ceiling runs no model
            elif r is None:
                row += ["-", "-", "-"]
            else:
                row += [fmt_rps(r.rps), fmt_ms(r.p50_ms), fmt_ms(r.p99_ms)]
        row.append(fmt_ratio(o.rps if o else None, k.rps if k else None))
        if not WORKLOADS[w].ceiling:
            row.append("n/a")
        else:
            row.append(fmt_ratio(o.rps if o else None, e.rps if e else None) if e else "-")
        rows.append(row)
    return rows


TABLE_HEAD = ["workload", "c", "ours req/s", "ours p50 ms", "ours p99 ms", "KServe req/s", "KServe p50 ms",
              "KServe p99 ms", "ceiling req/s", "ceiling p50 ms", "ceiling p99 ms", "ours/KServe", "ours/ceiling"]


def text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)))
    return "\n".join(lines)


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def cpu_rows(plan, results) -> list[list[str]]:
    rows = []
    for w, c in plan:
        row = [WORKLOADS[w].title, str(c)]
        for key in SERVER_ORDER:
            r = results.get((key, w, c))
            if key == "ceiling" and not WORKLOADS[w].ceiling:
                row.append("n/a")
            else:
                row.append("-" if r is None or r.cpu_us_per_req is None else f"{r.cpu_us_per_req:,.0f}")
        rows.append(row)
    return rows


CPU_HEAD = ["workload", "c", "ours", "KServe", "ceiling"]


RSS_HEAD = ["server", "process", "pid", "idle RSS MB", "idle USS MB", "idle PSS MB", "peak RSS MB"]


def rss_rows(servers: dict[str, Server]) -> list[list[str]]:
    rows = []
    for key in SERVER_ORDER:
        s = servers.get(key)
        if not s:
            continue
        infos = sorted(s.procs.values(), key=lambda i: (i.role, i.pid))
        for i in infos:
            rows.append([SERVER_TITLES[key], i.role, str(i.pid), fmt_mb(i.idle_kb), fmt_mb(i.idle_uss_kb),
                         fmt_mb(i.idle_pss_kb), fmt_mb(i.peak_kb)])
        rows.append([SERVER_TITLES[key], "total", "", fmt_mb(sum(i.idle_kb or 0 for i in infos) or None),
                     fmt_mb(sum(i.idle_uss_kb or 0 for i in infos) or None),
                     fmt_mb(sum(i.idle_pss_kb or 0 for i in infos) or None),
                     fmt_mb(sum(i.peak_kb or 0 for i in infos) or None)])
    return rows


def ready_rows(servers: dict[str, Server]) -> list[list[str]]:
    rows = []
    for key in SERVER_ORDER:
        s = servers.get(key)
        if not s:
            continue
        rows.append([SERVER_TITLES[key], "n/a" if s.ready_s is None else f"{s.ready_s * 1000:,.0f}",
                     "-" if s.grpc_ready_s is None else f"{s.grpc_ready_s * 1000:,.0f}"])
    return rows


def write_chart(path: Path, plan, results) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no chart: {e}"
    labels = [f"{WORKLOADS[w].title}\nc={c}" for w, c in plan]
    colors = {"ours": "#1f77b4", "kserve": "#ff7f0e", "ceiling": "#7f7f7f"}
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(plan) + 2), 9))
    width = 0.27
    for ax, metric, title in ((axes[0], "rps", "throughput (req/s, log scale, higher is better)"),
                              (axes[1], "p99_ms", "p99 latency (ms, log scale, lower is better)")):
        for j, s in enumerate(SERVER_ORDER):
            xs, ys = [], []
            for i, (w, c) in enumerate(plan):
                r = results.get((s, w, c))
                v = getattr(r, metric) if r and r.ok() else None
                if v:
                    xs.append(i + (j - 1) * width)
                    ys.append(v)
            if xs:
                bars = ax.bar(xs, ys, width, label=SERVER_TITLES[s], color=colors[s])
                ax.bar_label(bars, labels=[fmt_rps(v) if metric == "rps" else fmt_ms(v) for v in ys], fontsize=6,
                             rotation=90, padding=2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(plan)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.25)
    axes[0].legend(fontsize=8)
    fig.suptitle("make bench: kserve-swift vs KServe 0.21 vs C libfcgi behind nginx (same machine, same run)",
                 fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_markdown(path: Path, chart: Path, info: dict, args, plan, results, servers, targets, problems,
                   xgb: Optional[XgbSetup] = None, latency: Optional[dict] = None,
                   throughput: Optional[dict] = None) -> None:
    rel_chart = os.path.relpath(chart, path.parent)
    t_rows = [[t.text, t.measured, t.status] for t in targets]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make {'bench-quick' if args.quick else 'bench'}` (Tests/bench/run_bench.py); do not edit by hand.",
        "",
        f"- Machine: {info['nproc']} cores, {info['cpu']}, {info['memory_gib']} GiB memory, Linux {info['kernel']}",
        f"- Date: {info['date']}; commit {info['commit']}; load average before the run {info['load_before']:.2f}",
        f"- Tools: {info['nginx']}, {info['wrk']} (HTTP, keep-alive connections), kserve-grpc-loadgen (gRPC, one "
        "HTTP/2 connection), h2load (nghttp2, the sequential latency runs); all on 127.0.0.1",
        f"- Each run: {args.warmup:g} s warm-up (discarded), then {args.seconds:g} s measured; c = concurrent "
        "connections (HTTP) or calls in flight (gRPC); closed loop",
        f"- Servers: ours = kserve-master (echo model, {args.workers} workers, nginx for REST and for gRPC ModelInfer over HTTP/2, the gRPC process behind it for the other methods); KServe 0.21 = "
        f"Tests/bench/kserve_echo.py `--workers {args.workers}` (its defaults otherwise); ceiling = "
        f"{args.workers} C libfcgi responders (Tests/bench/fcgi_ceiling.c) behind nginx from the same template",
    ]
    if xgb is not None:
        lines += [
            f"- XGBoost workload: both servers also serve model `{XGB_MODEL}` (binary:logistic, 200 trees of depth 6, "
            f"30 features; trained at start by `Tests/bench/kserve_xgb.py --train`, xgboost {xgb.xgboost}): ours as "
            "a `kind = \"xgboost\"` entry, KServe with xgbserver's model class (Booster(nthread=1), DMatrix, "
            f"predict, tolist); each request is v1 JSON with {len(xgb.expected)} rows; the C ceiling runs no model "
            "(n/a). Model loading is part of both servers' start-to-ready and idle RSS in this run.",
        ]
    lines += [
        "",
        f"![throughput and p99 per workload]({rel_chart})",
        "",
        "## Throughput and latency",
        "",
        md_table(TABLE_HEAD, results_table(plan, results)),
        "",
        "## Targets (issues 7, 8 and 15)",
        "",
        md_table(["target", "measured", "result"], t_rows),
        "",
        "## Memory (MB): idle after start, peak while measured",
        "",
        "RSS counts every page a process maps, including the executable's code and shared libraries, which all of "
        "a server's processes share (our master, workers and gRPC process run one binary): the kernel holds those "
        "pages once. USS is what the process alone holds (its private pages: heap, stacks, written data); PSS adds "
        "its share of the shared pages, so PSS sums to the server's real footprint.",
        "",
        md_table(RSS_HEAD, rss_rows(servers)),
        "",
        "## Server CPU per request (µs, all of the server's processes: user + system time / completed requests)",
        "",
        "Less sensitive to other load on the machine than req/s: where the time goes, not how fast it went.",
        "",
        md_table(CPU_HEAD, cpu_rows(plan, results)),
        "",
    ]
    if latency:
        lines += [
            "## Sequential latency with one client for every protocol (h2load, c=1)",
            "",
            f"{args.latency_requests:,} requests one at a time per row (after a warm-up), all sent by nghttp2's h2load: "
            "HTTP/1.1 for REST, HTTP/2 for gRPC (the same request as the loadgen's `small`). wrk and the grpc-swift "
            "load generator above are two different clients, and the latter's own time is about half of a small "
            "call's p50 there; here the client is the same C program for every row, so the p50 ratios are the "
            "servers'. Every answer's HTTP status is checked, and one gRPC call per server is checked for status OK "
            "first. CPU: all of the server's processes over the measured requests.",
            "",
            md_table(LATENCY_HEAD, latency_rows(latency)),
            "",
        ]
    if throughput:
        lines += [
            "### Throughput with the same client (h2load, 16 in flight)",
            "",
            "The loadgen above shares the 2 cores with the server it loads, and its grpc-swift client costs about as "
            "much CPU per call as our server: at c=16 it caps the gRPC rows. Here h2load (C) keeps 16 requests in "
            "flight: gRPC as 16 streams on one HTTP/2 connection (as the loadgen), REST as 16 HTTP/1.1 keep-alive "
            f"connections (as wrk); {args.warmup:g} s warm-up, then {args.seconds:g} s measured.",
            "",
            md_table(THROUGHPUT_HEAD, throughput_rows(throughput)),
            "",
        ]
    lines += [
        "## Start to ready (ms from exec to the first 200 of /v2/health/ready; gRPC: port accepting)",
        "",
        md_table(["server", "HTTP ready", "gRPC port open"], ready_rows(servers)),
        "",
    ]
    notes = [f"- {r.server} {r.workload} c={r.concurrency}: {r.note}" for r in results.values() if r.note] + \
        [f"- {p}" for p in problems]
    if notes:
        lines += ["## Notes from this run", ""] + notes + [""]
    lines += [
        "Numbers on a shared 2-core machine swing by 30-50% with other load; compare ratios within one run only.",
        "",
    ]
    # The ONNX section is written by Tests/bench/onnx_bench.py (its own run, dated inside): kept as it was.
    try:
        before = path.read_text()
        begin, end = before.find("<!-- onnx-bench:begin -->"), before.find("<!-- onnx-bench:end -->")
        if 0 <= begin < end:
            lines += [before[begin:end + len("<!-- onnx-bench:end -->")], ""]
    except OSError:
        pass
    path.write_text("\n".join(lines))


README_START = "<!-- bench:start (make bench rewrites this part) -->"
README_END = "<!-- bench:end -->"


def update_readme(readme: Path, chart: Path, info: dict, plan, results, targets) -> bool:
    """Rewrites the part of the README between the bench markers, if it has them: chart, table, targets."""
    try:
        text = readme.read_text()
    except OSError:
        return False
    i, j = text.find(README_START), text.find(README_END)
    if i < 0 or j < i:
        return False
    passed = sum(t.status == "PASS" for t in targets)
    failed = sum(t.status == "FAIL" for t in targets)
    part = "\n".join([
        README_START,
        f"Latest `make bench` ({info['date']}, commit {info['commit']}, {info['nproc']} cores {info['cpu']}); "
        f"targets: {passed} met, {failed} missed, details in [BENCHMARKS.md](BENCHMARKS.md).",
        "",
        f"![throughput and p99 per workload]({os.path.relpath(chart, readme.parent)})",
        "",
        md_table(TABLE_HEAD, results_table(plan, results)),
        "",
    ])
    readme.write_text(text[:i] + part + text[j:])
    return True


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", type=Path, default=REPO / ".build" / "release" / "kserve-master")
    p.add_argument("--loadgen", type=Path, default=REPO / ".build" / "release" / "kserve-grpc-loadgen")
    p.add_argument("--ceiling", type=Path, default=REPO / ".build-bench" / "fcgi_ceiling")
    p.add_argument("--python", type=Path, default=REPO / ".venv-bench" / "bin" / "python",
                   help="python of the venv with kserve==0.21.0")
    p.add_argument("--wrk", default="wrk")
    p.add_argument("--h2load", default="h2load", help="nghttp2's h2load, the one client of the sequential latency runs")
    p.add_argument("--latency-requests", type=int, default=None,
                   help="requests per sequential latency run with h2load (default 3000, quick 1000; 0: none)")
    p.add_argument("--quick", action="store_true", help="the ~1 minute subset (5 s runs, fewer workloads)")
    p.add_argument("--seconds", type=float, help="measured seconds per run (default 10, quick 5)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run (default 2, quick 1)")
    p.add_argument("--big-seconds", type=float,
                   help="measured seconds of the 4 MB workloads (default 2x --seconds, quick: = --seconds; KServe "
                        "takes seconds per request there)")
    p.add_argument("--workloads", help="comma list of " + ",".join(WORKLOADS) + " (default: all, quick: subset)")
    p.add_argument("--concurrency", help="comma list (default 1,16)")
    p.add_argument("--servers", default=",".join(SERVER_ORDER), help="comma list of ours,kserve,ceiling")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--nginx-workers", type=int, default=1, help="nginx worker_processes (ours and the ceiling)")
    p.add_argument("--nginx-template", type=Path, default=REPO / "nginx" / "kserve.conf.template",
                   help="nginx template for ours and the ceiling (kserve-locations.conf beside it)")
    p.add_argument("--ours-grpc", choices=["auto", "on", "off"], default="auto",
                   help="start our gRPC process (auto: if the binary has it)")
    p.add_argument("--max-requests", type=int, default=2_000_000, help="count bound per load run (per wrk thread)")
    p.add_argument("--max-total-seconds", type=float, default=3600, help="skip runs once this much time has passed")
    p.add_argument("--ready-timeout", type=float, default=120)
    p.add_argument("--out-dir", type=Path, default=None,
                   help="where BENCHMARKS.md, bench.png and bench.json go (default: BENCHMARKS.md at the repo "
                        "root, the rest in Tests/bench/results)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (configs, logs)")
    a = p.parse_args()
    if a.seconds is None:
        a.seconds = 5.0 if a.quick else 10.0
    if a.warmup is None:
        a.warmup = 1.0 if a.quick else 2.0
    if a.latency_requests is None:
        a.latency_requests = 1000 if a.quick else 3000
    if a.big_seconds is None:
        a.big_seconds = a.seconds if a.quick else 2 * a.seconds
    if not (0 < a.seconds <= 600 and 0 < a.big_seconds <= 600 and 0 <= a.warmup <= 120):
        p.error("--seconds must be in (0, 600] and --warmup in [0, 120]")
    # Servers start in their own folders: every path must be absolute (but not resolved: a venv's python is a
    # symlink whose target would lose the venv).
    for name in ("bin", "loadgen", "ceiling", "python"):
        v = getattr(a, name, None)
        if isinstance(v, Path):
            setattr(a, name, Path(os.path.abspath(v)))
    return a


def main() -> int:
    args = parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    atexit.register(REAPER.stop_all)

    if args.workloads or args.concurrency:
        ws = (args.workloads or ",".join(WORKLOADS)).split(",")
        cs = [int(c) for c in (args.concurrency or "1,16").split(",")]
        plan = [(w, c) for w in ws for c in cs]
    else:
        plan = QUICK_PLAN if args.quick else FULL_PLAN
    for w, _ in plan:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w}; known: {', '.join(WORKLOADS)}")
    wanted = [s for s in args.servers.split(",") if s]
    for s in wanted:
        if s not in SERVER_ORDER:
            raise SystemExit(f"unknown server {s}")

    problems: list[str] = []
    # The C ceiling runs no model: not started when no workload of the plan is one it answers.
    if "ceiling" in wanted and not any(WORKLOADS[w].ceiling for w, _ in plan):
        wanted.remove("ceiling")
        problems.append("the C ceiling was not started: it runs no model, and every workload of this run needs one")

    # What is missing is a clear error, not a crash half-way.
    missing = []
    if "ours" in wanted and not args.bin.exists():
        missing.append(f"kserve-master binary {args.bin} (swift build -c release --product kserve-master)")
    if "kserve" in wanted and not args.python.exists():
        missing.append(f"KServe venv python {args.python} (make bench creates .venv-bench)")
    if "ceiling" in wanted and not args.ceiling.exists():
        missing.append(f"C responder {args.ceiling} (cc -O2 -o ... Tests/bench/fcgi_ceiling.c -lfcgi)")
    if any(WORKLOADS[w].kind == "http" for w, _ in plan) and not shutil.which(args.wrk):
        missing.append("wrk (apt-get install wrk)")
    if any(w == "xgb" for w, _ in plan) and not args.python.exists():
        problems.append(f"no KServe venv python at {args.python} to train the XGBoost model: the xgb workload was "
                        "skipped")
        log(f"  warning: {problems[-1]}")
        plan = [(w, c) for w, c in plan if w != "xgb"]
    if any(WORKLOADS[w].kind == "grpc" for w, _ in plan) and not args.loadgen.exists():
        problems.append(f"no gRPC load generator at {args.loadgen} (swift build -c release --product "
                        "kserve-grpc-loadgen): the gRPC workloads were skipped")
        log(f"  warning: {problems[-1]}")
        plan = [(w, c) for w, c in plan if WORKLOADS[w].kind != "grpc"]
    latency_cases = [c for c in LATENCY_CASES if any(w == c.key for w, _ in plan)] if args.latency_requests > 0 else []
    if latency_cases and not shutil.which(args.h2load):
        problems.append("no h2load (apt-get install nghttp2-client): the sequential latency runs with one client "
                        "were skipped")
        log(f"  warning: {problems[-1]}")
        latency_cases = []
    if missing:
        log("make bench: missing:\n  " + "\n  ".join(missing))
        return 2

    ours_grpc = args.ours_grpc == "on" or (args.ours_grpc == "auto" and binary_has(args.bin, b"GRPCProcess"))
    if "ours" in wanted and not ours_grpc:
        problems.append("our gRPC process was not started (" + (
            "--ours-grpc off" if args.ours_grpc == "off" else f"{args.bin} has no GRPCProcess") + "): gRPC rows n/a")

    tmp = Path(tempfile.mkdtemp(prefix="kserve-bench-"))
    info = machine_info()
    log(f"make bench: {len(plan)} workloads x {len(wanted)} servers, {args.warmup:g} s warm-up + {args.seconds:g} s "
        f"each; temp folder {tmp}; load average {info['load_before']:.2f}")
    if info["load_before"] > 1.0:
        log(f"  warning: load average {info['load_before']:.2f} on {info['nproc']} cores: numbers will be noisy")

    servers: dict[str, Server] = {}
    results: dict[tuple[str, str, int], RunResult] = {}
    latency: dict[tuple[str, str], LatencyResult] = {}
    throughput: dict[tuple[str, str], ThroughputResult] = {}
    xgb: Optional[XgbSetup] = None
    started_at = time.monotonic()
    try:
        # 0. the XGBoost workload's model and request, before any server starts (both serve the same file)
        if any(w == "xgb" for w, _ in plan):
            log(f"training the XGBoost benchmark model ({BENCH / 'kserve_xgb.py'} --train, {args.python}) ...")
            try:
                xgb = prepare_xgb(args.python, tmp / "xgb")
                BODY_FILES["xgb"] = xgb.request
                log(f"  trained in {xgb.train_s:.1f} s (xgboost {xgb.xgboost}); model "
                    f"{(xgb.model_dir / 'model.json').stat().st_size / 1e6:.1f} MB, request {len(xgb.body)} bytes")
            except (RuntimeError, OSError, ValueError, KeyError) as e:
                problems.append(f"the xgb workload was skipped: {str(e).splitlines()[0] if str(e) else e!r}")
                log(f"  {e}")
                plan = [(w, c) for w, c in plan if w != "xgb"]
        xgb_dir = xgb.model_dir if xgb else None

        # 1. start each server alone, measure start-to-ready and idle RSS
        for key in SERVER_ORDER:
            if key not in wanted:
                continue
            if key == "ours":
                s: Server = OursServer(tmp / "ours", args.bin.resolve(), args.workers, ours_grpc, args.nginx_workers,
                                       args.nginx_template.resolve(), xgb_dir)
            elif key == "kserve":
                s = KServeServer(tmp / "kserve", args.python, args.workers, xgb_dir)
            else:
                o = servers.get("ours")
                s = CeilingServer(tmp / "ceiling", args.ceiling.resolve(), args.workers, args.nginx_workers,
                                  args.nginx_template.resolve(), o if isinstance(o, OursServer) else None)
            log(f"starting {SERVER_TITLES[key]} (HTTP {s.http_port}" + (f", gRPC {s.grpc_port}" if s.grpc_port else "")
                + ") ...")
            servers[key] = s
            t0 = s.start()
            try:
                s.wait_ready(t0, args.ready_timeout)
            except RuntimeError as e:
                problems.append(str(e).splitlines()[0])
                log(f"  {e}")
                s.stop()
                continue
            problems += [f"{key}: {p}" for p in s.problems]
            if isinstance(s, CeilingServer):
                log(f"  nginx config: {s.config_origin}")
                problems.append(f"ceiling nginx config: {s.config_origin}")
            time.sleep(1.0)  # settle: lazy start-up work (nginx workers, gRPC) done
            s.sample(idle=True)
            total = sum(i.idle_kb or 0 for i in s.procs.values())
            log(f"  ready in {s.ready_s * 1000:,.0f} ms; {len(s.procs)} processes, idle RSS {total / 1024:.1f} MB")

        # 2. sanity: one request per HTTP workload and server
        broken: set[tuple[str, str]] = set()
        for w in dict.fromkeys(w for w, _ in plan):
            wl = WORKLOADS[w]
            if wl.kind != "http":
                continue
            for key, s in servers.items():
                if s.ready_s is None or (key == "ceiling" and not wl.ceiling):
                    continue
                why = check_http(s, wl, xgb)
                if why:
                    broken.add((key, w))
                    problems.append(f"{key} {w}: wrong answer to the check request: {why}")
                    log(f"  check {key} {w}: {why}")
        if xgb is not None:
            compare_xgb(xgb)
            log(f"  xgb predictions: {'equal' if xgb.agree else 'DIFFER' if xgb.agree is False else 'n/a'}: "
                f"{xgb.detail}")
            if xgb.agree is False:
                problems.append(f"xgb: the servers' predictions differ: {xgb.detail}")

        # 3. the load runs: per workload and concurrency, each server in turn
        jobs = []
        for w, c in plan:
            for key in SERVER_ORDER:
                s = servers.get(key)
                if s is None or s.ready_s is None:
                    continue
                if WORKLOADS[w].kind == "grpc" and not s.grpc_port:
                    continue
                if key == "ceiling" and not WORKLOADS[w].ceiling:
                    continue  # runs no model: n/a in the tables
                jobs.append((w, c, key))
        for n, (w, c, key) in enumerate(jobs, 1):
            wl, s = WORKLOADS[w], servers[key]
            prefix = f"[{n:2d}/{len(jobs)}] {key:7s} {w:7s} c={c:<2d}"
            if time.monotonic() - started_at > args.max_total_seconds:
                log(f"{prefix} skipped (--max-total-seconds {args.max_total_seconds:g} reached)")
                continue
            if (key, w) in broken:
                results[(key, w, c)] = RunResult(key, w, c, note="skipped: wrong answer to the check request")
                log(f"{prefix} skipped (wrong answer)")
                continue
            log(f"{prefix} running ({args.warmup:g}+{args.seconds:g} s) ...")
            r = measure(args, s, wl, c)
            results[(key, w, c)] = r
            if r.ok():
                log(f"{prefix} {fmt_rps(r.rps):>9} req/s  p50 {fmt_ms(r.p50_ms):>7} ms  p99 {fmt_ms(r.p99_ms):>7} ms"
                    + (f"  ({r.note})" if r.note else ""))
            else:
                log(f"{prefix} no result: {r.note}")

        # 3b. one client (h2load) for REST and gRPC and for every server: sequential latency for every case, then
        # throughput at 16 in flight for v2 JSON and gRPC (the loadgen's own CPU shares the 2 cores)
        def h2load_targets(cases):
            for case in cases:
                for key in SERVER_ORDER:
                    s = servers.get(key)
                    if s is None or s.ready_s is None or (key, case.key) in broken:
                        continue
                    if case.kind == "grpc" and not s.grpc_port:
                        continue
                    yield case, key, s

        def cpu_text(us: Optional[float]) -> str:
            return "-" if us is None else f"{us:,.0f} us/req"

        for case, key, s in h2load_targets(latency_cases):
            prefix = f"[h2load] {key:7s} {case.key:7s} c=1"
            log(f"{prefix} running ({args.latency_requests} requests) ...")
            lr = measure_latency(args, s, case, tmp)
            latency[(key, case.key)] = lr
            log(f"{prefix} p50 {fmt_ms(lr.p50_ms):>7} ms  p99 {fmt_ms(lr.p99_ms):>7} ms  CPU "
                f"{cpu_text(lr.cpu_us_per_req)}" + (f"  ({lr.note})" if lr.note else ""))
        for case, key, s in h2load_targets([c for c in latency_cases if c.key in ("grpc", "v2json")]):
            prefix = f"[h2load] {key:7s} {case.key:7s} c=16"
            log(f"{prefix} running ({args.warmup:g}+{args.seconds:g} s) ...")
            tr = measure_throughput(args, s, case, 16)
            throughput[(key, case.key)] = tr
            log(f"{prefix} {fmt_rps(tr.rps):>9} req/s  CPU {cpu_text(tr.cpu_us_per_req)}"
                + (f"  ({tr.note})" if tr.note else ""))
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): stopping everything")
        REAPER.stop_all()
        return 130
    finally:
        for s in servers.values():
            s.stop()
        REAPER.stop_all()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # 4. report
    targets = evaluate_targets(results, servers, xgb, latency, throughput)
    print()
    print(text_table(TABLE_HEAD, results_table(plan, results)))
    print()
    print(text_table(["target (issues 7, 8, 15)", "measured", "result"], [[t.text, t.measured, t.status] for t in targets]))
    print()
    print(text_table(["server CPU µs/request"] + CPU_HEAD[1:], cpu_rows(plan, results)))
    if latency:
        print()
        print(text_table(LATENCY_HEAD, latency_rows(latency)))
    if throughput:
        print()
        print(text_table(THROUGHPUT_HEAD, throughput_rows(throughput)))
    print()
    print(text_table(RSS_HEAD, rss_rows(servers)))
    print()
    print(text_table(["server", "ready ms", "gRPC open ms"], ready_rows(servers)))
    for p in problems:
        print(f"note: {p}")

    if not args.no_write:
        if args.out_dir:
            md, chart, raw = args.out_dir / "BENCHMARKS.md", args.out_dir / "bench.png", args.out_dir / "bench.json"
        else:
            md = REPO / "BENCHMARKS.md"
            chart, raw = BENCH / "results" / "bench.png", BENCH / "results" / "bench.json"
        md.parent.mkdir(parents=True, exist_ok=True)
        raw.parent.mkdir(parents=True, exist_ok=True)
        why = write_chart(chart, plan, results)
        if why:
            problems.append(why)
        write_markdown(md, chart, info, args, plan, results, servers, targets, problems, xgb, latency, throughput)
        raw.write_text(json.dumps({
            "machine": info,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "results": [vars(r) for r in results.values()],
            "processes": {k: [vars(i) for i in s.procs.values()] for k, s in servers.items()},
            "ready_s": {k: s.ready_s for k, s in servers.items()},
            "targets": [vars(t) for t in targets],
            "xgb": None if xgb is None else {
                "xgboost": xgb.xgboost, "train_s": xgb.train_s, "request_bytes": len(xgb.body),
                "expected": xgb.expected, "answers": xgb.answers, "agree": xgb.agree, "detail": xgb.detail},
        }, indent=1))
        if not args.quick and args.out_dir is None:
            if update_readme(REPO / "README.md", chart, info, plan, results, targets):
                print("updated the performance table in README.md (between the bench markers)")
        print(f"\nwrote {md.relative_to(REPO) if md.is_relative_to(REPO) else md}, "
              f"{chart.relative_to(REPO) if chart.is_relative_to(REPO) else chart}, "
              f"{raw.relative_to(REPO) if raw.is_relative_to(REPO) else raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
