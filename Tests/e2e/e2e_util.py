"""Helpers for the end-to-end suite: start/stop the real stack, talk HTTP, encode tensors.

Everything here goes through nginx on the HTTP port, exactly like a user would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 30

# Models configured in the default stack, in config order.
MODEL_ORDER = ["echo", "sleep", "fp16-output", "fp16-input", "broken"]
ECHO_INPUTS = [{"name": "input-0", "datatype": "FP32", "shape": [-1, 2]}]

# Every live stack, so that a failing test can print their logs.
ACTIVE_STACKS: list["Stack"] = []


# --------------------------------------------------------------------------------------------
# binary, config
# --------------------------------------------------------------------------------------------

def kserve_bin() -> Path:
    return Path(os.environ.get("KSERVE_BIN") or REPO / ".build" / "debug" / "kserve-master")


def nginx_template() -> Path | None:
    p = Path(os.environ.get("KSERVE_NGINX_TEMPLATE") or REPO / "nginx" / "kserve.conf.template")
    return p if p.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings accept JSON escapes
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def toml_dumps(cfg: dict) -> str:
    """Tiny TOML writer: top-level scalars, [tables] and [[arrays of tables]]."""
    lines: list[str] = []
    for k, v in cfg.items():
        if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines += ["", f"[[{k}]]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"


def default_models() -> list[dict]:
    return [
        {"name": "echo", "kind": "echo", "inputs": [dict(i) for i in ECHO_INPUTS]},
        {"name": "sleep", "kind": "sleep", "delay_ms": 50},
        {"name": "fp16-output", "kind": "fp16-output"},
        {"name": "fp16-input", "kind": "fp16-input"},
        {"name": "broken", "kind": "broken"},
    ]


def default_config(http_port: int | None = None, **http_overrides: Any) -> dict:
    http = {
        "host": "127.0.0.1",
        "port": http_port or free_port(),
        "nginx": True,
        "max_body_size": "64m",
    }
    tpl = nginx_template()
    if tpl is not None:
        http["nginx_template"] = str(tpl)
    http.update(http_overrides)
    return {
        "server": {
            "workers": 2,
            "threads": 1,
            "run_dir": "run",
            "grace_period": 5,
            "enable_latency_logging": True,
            "log_level": "info",
        },
        "http": http,
        "grpc": {"enable": False},
        "models": default_models(),
    }


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------

def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pid_alive(pid: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    out = []
    for p in _all_pids():
        st = _proc_stat(p)
        if st and st[1] == pid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def descendants_of(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return sorted(out)


def group_members(pgid: int) -> list[int]:
    out = []
    for p in _all_pids():
        st = _proc_stat(p)
        if st and st[2] == pgid and st[0] not in ("Z", "X"):
            out.append(p)
    return sorted(out)


def exe_of(pid: int) -> str:
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def comm_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def find_sockets(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                if stat.S_ISSOCK(p.lstat().st_mode):
                    out.append(p)
            except OSError:
                pass
    return sorted(out)


class StopResult:
    def __init__(self, returncode, hung, leftover_pids, leftover_sockets, sockets_before):
        self.returncode = returncode
        self.hung = hung
        self.leftover_pids = leftover_pids
        self.leftover_sockets = leftover_sockets
        self.sockets_before = sockets_before

    def problems(self) -> list[str]:
        p = []
        if self.hung:
            p.append("master did not exit within the timeout after SIGTERM (killed with SIGKILL)")
        elif self.returncode != 0:
            p.append(f"master exit code {self.returncode}, expected 0")
        if self.leftover_pids:
            p.append(f"processes still alive after the master exited: {self.leftover_pids}")
        if self.leftover_sockets:
            p.append(f"socket files left behind: {[str(s) for s in self.leftover_sockets]}")
        return p


def wait_process_ready(proc: subprocess.Popen, base_url: str, log_path: Path, timeout: float = 60,
                       extra: str | None = None) -> None:
    """Waits until a server started by hand (no Stack) answers /v2/health/ready (and `extra`, a path) with 200;
    fails with its log's tail if it exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            if requests.get(base_url + "/v2/health/ready", timeout=2).status_code == 200 and \
                    (extra is None or requests.get(base_url + extra, timeout=2).status_code == 200):
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


class Stack:
    """One `kserve-master -c <file>` process with its own config folder, log file and port."""

    def __init__(self, workdir: Path, config: dict | str | None = None, args: Iterable[str] = (),
                 env: dict | None = None, config_name: str = "kserve.toml", name: str = "stack"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = default_config() if config is None else config
        self.args = list(args)
        self.env = env
        self.name = name
        self.config_path = self.workdir / config_name
        self.log_path = self.workdir / f"{name}.log"
        self.cwd = self.workdir / "cwd"  # start elsewhere, so relative paths must resolve against the config folder
        self.cwd.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self._logf = None
        self.port: int | None = None
        self.initial_workers: list[int] = []
        self.stopped: StopResult | None = None

    # --- set-up -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        text = self.config if isinstance(self.config, str) else toml_dumps(self.config)
        self.config_path.write_text(text)
        if isinstance(self.config, dict):
            self.port = self.config["http"]["port"]

    def spawn(self) -> subprocess.Popen:
        self.write_config()
        self._logf = open(self.log_path, "ab")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(
            [str(kserve_bin()), "-c", str(self.config_path), *self.args],
            cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )
        ACTIVE_STACKS.append(self)
        return self.proc

    def start(self, timeout: float = 30, port: int | None = None) -> "Stack":
        self.spawn()
        if port is not None:
            self.port = port
        self.wait_live(timeout)
        self.wait_pool_ready(min(timeout, 10))
        self.initial_workers = self.worker_pids()
        return self

    def start_cleanly(self, timeout: float = 30) -> "Stack":
        """start(), but a stack that fails to start is stopped again (nothing left running) before the error goes on."""
        try:
            return self.start(timeout=timeout)
        except Exception:
            self.stop(timeout=5)
            raise

    def wait_pool_ready(self, timeout: float) -> None:
        """Best effort: /v2/health/ready stays 503 until every worker has loaded its models (a stack whose
        readiness depends on a predictor that is down never gets there; the caller checks what it expects)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if requests.get(self.base_url + "/v2/health/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)

    def wait_live(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kserve-master exited with {self.proc.returncode} before becoming live\n{self.log_tail()}")
            try:
                r = requests.get(self.base_url + "/v2/health/live", timeout=2)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.1)
        raise RuntimeError(f"stack not live after {timeout}s (last answer: {last})\n{self.log_tail()}")

    # --- inspection ---------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 150) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """Direct children of the master running the kserve-master binary itself."""
        me = os.path.realpath(kserve_bin())
        master_exe = exe_of(self.proc.pid) or me
        return [p for p in children_of(self.proc.pid) if exe_of(p) in (me, master_exe)]

    def nginx_pids(self) -> list[int]:
        return [p for p in descendants_of(self.proc.pid) if comm_of(p).startswith("nginx")]

    def sockets(self) -> list[Path]:
        return find_sockets(self.workdir)

    # --- tear-down ----------------------------------------------------------------------
    def stop(self, timeout: float = 10, sig: int = signal.SIGTERM) -> StopResult:
        if self.stopped is not None:
            return self.stopped
        pid = self.proc.pid
        tracked = set(descendants_of(pid)) | set(group_members(pid))
        sockets_before = self.sockets()
        hung = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                hung = True
                tracked |= set(descendants_of(pid)) | set(group_members(pid))
                for p in sorted(tracked) + [pid]:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(10)
        # children get a moment to go away after the master returned
        deadline = time.monotonic() + 3
        leftover = [p for p in sorted(tracked) if pid_alive(p)]
        while leftover and time.monotonic() < deadline:
            time.sleep(0.1)
            leftover = [p for p in leftover if pid_alive(p)]
        for p in leftover:  # processes we started: clean them up, but report them
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        leftover_sockets = [s for s in sockets_before if s.exists()]
        if self._logf:
            self._logf.close()
        if self in ACTIVE_STACKS:
            ACTIVE_STACKS.remove(self)
        self.stopped = StopResult(None if hung else self.proc.returncode, hung, leftover,
                                  leftover_sockets, sockets_before)
        return self.stopped


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

def serve(stack: "Stack", *, timeout: float = 30, stop_timeout: float = 10):
    """A module fixture's body: starts `stack` (stopping it again if the start fails), yields it, then stops it
    and asserts a clean stop."""
    stack.start_cleanly(timeout)
    yield stack
    res = stack.stop(timeout=stop_timeout)
    assert not res.problems(), res.problems()


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILLs the process group of a server started with `start_new_session=True`, if it still runs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Api:
    """A thin requests wrapper bound to one base URL."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")
        self.s = requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.get(self.base + path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.post(self.base + path, **kw)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.request(method, self.base + path, **kw)

    def post_json_text(self, path: str, text: str | bytes, content_type: str | None = "application/json",
                       **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if content_type is not None:
            headers["Content-Type"] = content_type
        data = text.encode() if isinstance(text, str) else text
        return self.post(path, data=data, headers=headers, **kw)

    def infer(self, model: str, body: dict, **kw) -> requests.Response:
        return self.post(f"/v2/models/{model}/infer", json=body, **kw)

    def predict(self, model: str, body: dict, **kw) -> requests.Response:
        return self.post(f"/v1/models/{model}:predict", json=body, **kw)


def describe(r: requests.Response) -> str:
    body = r.content[:800]
    return (f"{r.request.method} {r.url} -> {r.status_code}\n"
            f"headers: {dict(r.headers)}\nbody: {body!r}")


def media_type(r: requests.Response) -> str:
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def expect_json(r: requests.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"expected {status}\n{describe(r)}"
    assert media_type(r) == "application/json", f"expected Content-Type application/json\n{describe(r)}"
    try:
        return r.json()
    except ValueError:
        raise AssertionError(f"body is not JSON\n{describe(r)}")


def expect_error(r: requests.Response, status: int, *, equals: str | None = None,
                 contains: Iterable[str] = (), startswith: str | None = None) -> str:
    """Status + `{"error": "<non-empty string>"}` with Content-Type application/json."""
    body = expect_json(r, status)
    assert isinstance(body, dict) and set(body) == {"error"}, f'expected {{"error": ...}}\n{describe(r)}'
    msg = body["error"]
    assert isinstance(msg, str) and msg, f"error message must be a non-empty string\n{describe(r)}"
    if equals is not None:
        assert msg == equals, f"error {msg!r} != {equals!r}"
    if startswith is not None:
        assert msg.startswith(startswith), f"error {msg!r} does not start with {startswith!r}"
    for c in contains:
        assert c in msg, f"error {msg!r} does not mention {c!r}"
    return msg


def assert_serving(api: Api) -> None:
    """A few ordinary requests, enough to hit every worker with high probability."""
    for i in range(4):
        r = api.predict("echo", {"instances": [[i, i + 1]]})
        assert expect_json(r) == {"predictions": [[i, i + 1]]}, describe(r)
    r = api.infer("echo", {"inputs": [{"name": "x", "datatype": "INT32", "shape": [2], "data": [7, 8]}]})
    assert expect_json(r)["outputs"][0]["data"] == [7, 8]


# --------------------------------------------------------------------------------------------
# tensors and the binary extension
# --------------------------------------------------------------------------------------------

NP_DTYPES = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}


def serialize_bytes(items: Iterable[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def deserialize_bytes(raw: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        i += 4
        out.append(raw[i:i + n])
        i += n
    assert i == len(raw), "BYTES buffer has trailing garbage"
    return out


def raw_of(datatype: str, values) -> bytes:
    if datatype == "BYTES":
        return serialize_bytes(values)
    return np.asarray(values, dtype=NP_DTYPES[datatype]).astype(np.dtype(NP_DTYPES[datatype]).newbyteorder("<")).tobytes()


def decode_raw(datatype: str, shape: list[int], raw: bytes):
    if datatype == "BYTES":
        return deserialize_bytes(raw)
    arr = np.frombuffer(raw, dtype=np.dtype(NP_DTYPES[datatype]).newbyteorder("<"))
    return arr.reshape(shape)


def binary_body(header: dict, buffers: Iterable[bytes] = ()) -> tuple[bytes, int]:
    head = json.dumps(header).encode()
    return head + b"".join(buffers), len(head)


def post_binary(api: Api, model: str, header: dict, buffers: Iterable[bytes] = (),
                header_length: str | int | None = None, path: str | None = None) -> requests.Response:
    body, n = binary_body(header, buffers)
    hl = str(n) if header_length is None else str(header_length)
    return api.post(path or f"/v2/models/{model}/infer", data=body,
                    headers={"Content-Type": "application/octet-stream",
                             "Inference-Header-Content-Length": hl})


def split_infer_response(r: requests.Response) -> tuple[dict, dict[str, bytes]]:
    """Returns (JSON header, {output name: raw buffer}) of a v2 infer response, binary or not."""
    assert r.status_code == 200, describe(r)
    hl = r.headers.get("Inference-Header-Content-Length")
    if hl is None:
        assert media_type(r) == "application/json", describe(r)
        return r.json(), {}
    n = int(hl)
    header = json.loads(r.content[:n])
    raws, off = {}, n
    for o in header["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            assert "data" not in o, f"binary output {o['name']} also has JSON data"
            raws[o["name"]] = r.content[off:off + size]
            off += size
    assert off == len(r.content), f"body length {len(r.content)} != header {n} + buffers ({off - n})"
    return header, raws


class ThreadLocalApi(threading.local):
    def __init__(self, base_url: str):
        self.api = Api(base_url)
