"""The master as a process manager: the fault suite of issue 4, on the real stack (nginx + workers).

Each scenario runs its own stack (make_stack) and is bounded in time; load comes from other threads of this
process, over loopback, through nginx like a client's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

import e2e_util as u
from e2e_util import Api, describe, expect_error, expect_json


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns something truthy; returns it, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def status(stack: u.Stack, full: bool = False, expect: int | None = 200) -> dict:
    r = requests.get(stack.base_url + "/status" + ("?full" if full else ""), timeout=10)
    if expect is not None:
        assert r.status_code == expect, describe(r)
    assert u.media_type(r) == "application/json", describe(r)
    return r.json()


def try_status(stack: u.Stack, full: bool = False) -> dict | None:
    try:
        r = requests.get(stack.base_url + "/status" + ("?full" if full else ""), timeout=5)
        return r.json() if r.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def sleep_body(ms: int) -> dict:
    return {"parameters": {"delay_ms": ms},
            "inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [ms]}]}


class Load:
    """`threads` client threads sending requests through nginx until stopped; every outcome is kept.

    kind: "echo" (v1 echo, fast) or "sleep:<ms>" (v2 sleep model, keeps the workers busy).
    """

    def __init__(self, stack: u.Stack, threads: int = 4, kind: str = "echo", limit: int | None = None):
        self.url = stack.base_url
        self.kind = kind
        self.limit = limit
        self.results: list[tuple[int | None, str, bytes, float]] = []  # status, content type, body, start
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.count = 0
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(60)

    def _take(self) -> int | None:
        with self.lock:
            if self.limit is not None and self.count >= self.limit:
                return None
            self.count += 1
            return self.count

    def _run(self, index: int) -> None:
        session = requests.Session()
        while not self.stop_event.is_set():
            n = self._take()
            if n is None:
                return
            start = time.monotonic()
            try:
                if self.kind == "echo":
                    r = session.post(self.url + "/v1/models/echo:predict", json={"instances": [[n, index]]},
                                     timeout=30)
                    ok_body = r.status_code != 200 or r.json() == {"predictions": [[n, index]]}
                else:
                    ms = int(self.kind.split(":")[1])
                    r = session.post(self.url + "/v2/models/sleep/infer", json=sleep_body(ms), timeout=30)
                    ok_body = r.status_code != 200 or r.json()["outputs"][0]["data"] == [ms]
                status_code = r.status_code if ok_body else -1  # -1: a 200 with the wrong answer
                outcome = (status_code, u.media_type(r), r.content[:300], start)
            except requests.RequestException as e:
                outcome = (None, "", repr(e).encode(), start)
            with self.lock:
                self.results.append(outcome)

    @property
    def failures(self) -> list[tuple[int | None, str, bytes, float]]:
        with self.lock:
            return [r for r in self.results if r[0] != 200]

    @property
    def total(self) -> int:
        with self.lock:
            return len(self.results)


def assert_json_502(failure) -> None:
    code, ctype, body, _ = failure
    assert code == 502, f"unexpected failure {failure!r}"
    assert ctype == "application/json", f"502 is not JSON: {failure!r}"
    err = json.loads(body)
    assert isinstance(err.get("error"), str) and err["error"], failure


def master_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def reload_done(stack: u.Stack, generation: int, workers: int):
    def check():
        s = try_status(stack, full=True)
        if not s or s["generation"] != generation or s["reloading"]:
            return None
        ready = [w for w in s["workers"] if w["state"] in ("Idle", "Busy")]
        if len(ready) != workers or s["total workers"] != workers:
            return None
        if any(w["generation"] != generation for w in s["workers"]):
            return None
        return s
    return check


def worker_count(stack: u.Stack, n: int):
    def check():
        pids = stack.worker_pids()
        return pids if len(pids) == n else None
    return check


def pm_config(**server):
    """The default test config with extra [server] keys."""
    def edit(cfg):
        cfg["server"].update(server)
    return edit


# --------------------------------------------------------------------------------------------
# 1. SIGKILL a busy worker under load
# --------------------------------------------------------------------------------------------

def test_1_killed_busy_worker_is_replaced_and_only_its_request_fails(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-kill")
    before = set(s.worker_pids())
    with Load(s, threads=4, kind="sleep:40") as load:
        time.sleep(1.0)

        def busy_worker():
            st = try_status(s, full=True)
            if not st:
                return None
            for w in st["workers"]:
                if w["state"] == "Busy" and (w["request uri"] or "").startswith("/v2/models/sleep"):
                    return w["pid"]
            return None

        victim = wait_until(busy_worker, 5, what="a worker busy with a sleep request")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replaced = wait_until(
            lambda: (lambda p: p if victim not in p and len(p) == 2 else None)(s.worker_pids()), 1.0,
            interval=0.02, what="the killed worker to be replaced")
        replaced_after = time.monotonic() - killed_at
        time.sleep(1.5)
    assert replaced_after <= 1.0
    assert len(set(replaced) - before) == 1
    failures = load.failures
    assert load.total > 50, f"too little load: {load.total} requests"
    # One accept loop per worker: at most the one request in flight on the killed worker fails, as a JSON 502.
    assert len(failures) <= 1, f"{len(failures)} of {load.total} failed: {failures[:3]}"
    for f in failures:
        assert_json_502(f)
    st = wait_until(lambda: (lambda x: x if x and x["idle workers"] + x["active workers"] == 2 else None)(
        try_status(s)), 10, what="2 ready workers")
    assert st["respawns"] >= 1 and st["failures"] >= 1
    assert "SIGKILL" in st["last failure"]["reason"]


# --------------------------------------------------------------------------------------------
# 2. SIGHUP with workers 2 -> 3 under load
# --------------------------------------------------------------------------------------------

def test_2_reload_to_three_workers_under_load_loses_nothing(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-reload")
    before = set(s.worker_pids())
    assert len(before) == 2
    with Load(s, threads=4, kind="sleep:20") as load:
        time.sleep(0.8)
        s.config["server"]["workers"] = 3
        s.write_config()
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_until(reload_done(s, 2, 3), 20, interval=0.1, what="the reload to 3 workers")
        time.sleep(0.5)
    assert load.total > 30, f"too little load: {load.total}"
    assert not load.failures, f"{len(load.failures)} of {load.total} failed: {load.failures[:3]}"
    after = wait_until(worker_count(s, 3), 10, what="3 worker processes (old ones gone)")
    assert not set(after) & before, f"old workers still running: {set(after) & before}"
    assert "reload complete" in s.log_text()


# --------------------------------------------------------------------------------------------
# 3. max_requests = 50 under load
# --------------------------------------------------------------------------------------------

def test_3_recycling_after_max_requests_loses_nothing(make_stack):
    s = make_stack(config=pm_config(workers=2, max_requests=50), name="pm-recycle")
    with Load(s, threads=4, kind="echo", limit=1000) as load:
        deadline = time.monotonic() + 90
        while load.total < 1000 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert load.total == 1000, f"only {load.total} of 1000 requests finished in time"
    assert not load.failures, f"{len(load.failures)} of 1000 failed: {load.failures[:3]}"
    st = status(s, full=True)
    assert st["recycles"] >= 15, f"recycles: {st['recycles']}"
    assert st["failures"] == 0 and st["respawns"] == 0
    serving = [w for w in st["workers"] if w["state"] in ("Idle", "Busy")]
    assert serving and all(w["max requests"] == 50 and w["requests"] <= 50 for w in serving), st["workers"]
    assert "recycled after 50 requests" in s.log_text()


# --------------------------------------------------------------------------------------------
# 4. SIGTERM with a request in flight
# --------------------------------------------------------------------------------------------

def test_4_sigterm_drains_the_request_in_flight_and_leaves_nothing(make_stack):
    grace = 10
    s = make_stack(config=pm_config(workers=2, grace_period=grace), name="pm-drain")
    pid = s.proc.pid
    result = {}

    def slow():
        t0 = time.monotonic()
        try:
            r = requests.post(s.base_url + "/v2/models/sleep/infer", json=sleep_body(2000), timeout=30)
            result.update(status=r.status_code, body=r.json(), elapsed=time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001
            result.update(error=repr(e))

    t = threading.Thread(target=slow)
    t.start()
    def in_flight():
        st = try_status(s, full=True)
        return st and any((w["request uri"] or "").startswith("/v2/models/sleep") for w in st["workers"])

    wait_until(in_flight, 2, what="the sleep request to be in flight")
    tracked = set(u.descendants_of(pid)) | set(u.group_members(pid))
    sockets = s.sockets()
    assert sockets
    os.kill(pid, signal.SIGTERM)
    stopped_at = time.monotonic()

    def refused():
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=0.5):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    wait_until(refused, 1.5, interval=0.05, what="new connections to be refused")
    t.join(15)
    assert result.get("status") == 200, result
    assert result["body"]["outputs"][0]["data"] == [2000]
    rc = s.proc.wait(grace + 5)
    took = time.monotonic() - stopped_at
    assert rc == 0, f"exit code {rc}\n{s.log_tail()}"
    assert took < grace, f"the master took {took:.1f}s (grace period {grace}s)"
    leftover = [p for p in tracked if u.pid_alive(p)]
    assert not leftover, f"still alive: {leftover}"
    assert not [p for p in sockets if p.exists()], "socket left behind"
    res = s.stop()
    assert not res.problems(), res.problems()


# --------------------------------------------------------------------------------------------
# 5. request_timeout = 1 and a 5 s request
# --------------------------------------------------------------------------------------------

def test_5_watchdog_answers_504_and_replaces_the_stuck_worker(make_stack):
    s = make_stack(config=pm_config(workers=2, request_timeout=1), name="pm-watchdog")
    before = set(s.worker_pids())
    result = {}

    def stuck():
        t0 = time.monotonic()
        r = requests.post(s.base_url + "/v2/models/sleep/infer", json=sleep_body(5000), timeout=30)
        result.update(response=r, elapsed=time.monotonic() - t0)

    t = threading.Thread(target=stuck)
    t.start()
    time.sleep(0.3)
    api = Api(s.base_url)
    t0 = time.monotonic()
    expect_json(api.predict("echo", {"instances": [[1, 2]]}))  # the other worker answers at once
    assert time.monotonic() - t0 < 0.5
    t.join(10)
    r = result["response"]
    expect_error(r, 504)
    assert 0.8 <= result["elapsed"] <= 2.5, f"504 after {result['elapsed']:.2f}s"

    def replaced():
        pids = set(s.worker_pids())
        return pids if len(pids) == 2 and pids != before else None

    after = wait_until(replaced, 5, what="the stuck worker to be replaced")
    assert len(after & before) == 1
    st = wait_until(lambda: (lambda x: x if x and x["timeouts"] == 1 else None)(try_status(s)), 5,
                    what="the timeout in the status page")
    assert "watchdog" in st["last failure"]["reason"]
    assert "request_timeout" in s.log_text()
    expect_json(api.predict("echo", {"instances": [[3]]}))


# --------------------------------------------------------------------------------------------
# 6. a model that crashes its worker while loading
# --------------------------------------------------------------------------------------------

def test_6_crash_loop_backs_off_shows_in_status_and_heals_on_reload(make_stack):
    def crashing(cfg):
        cfg["server"]["workers"] = 2
        cfg["models"] = [{"name": "echo", "kind": "echo"}, {"name": "crash", "kind": "crash"}]

    s = make_stack(config=crashing, name="pm-crash", start=False)
    s.spawn()
    pid = s.proc.pid
    started = time.monotonic()
    # No worker ever comes up: the status page is nginx serving the master's own snapshot, with status 503.
    def snapshot():
        r = _get(s, "/status")
        return r.json() if r is not None and r.status_code == 503 and u.media_type(r) == "application/json" else None

    snap = wait_until(snapshot, 15, interval=0.1, what="the master's status snapshot")
    assert snap["source"] == "master" and snap["total workers"] <= 2
    time.sleep(max(0.0, 4 - (time.monotonic() - started)))
    early = wait_until(snapshot, 5, what="a status snapshot")
    cpu_early = master_cpu_seconds(pid)
    t_early = time.monotonic()
    time.sleep(8)
    late = wait_until(snapshot, 5, what="a status snapshot")
    cpu_late = master_cpu_seconds(pid)
    window = time.monotonic() - t_early
    assert s.proc.poll() is None, "the master gave up"
    assert early["respawns"] >= 6, f"the first respawns should be quick: {early['respawns']}"
    rate = (late["respawns"] - early["respawns"]) / window
    assert rate < 1.0, f"respawn rate {rate:.2f}/s after the first few (early {early['respawns']}, late {late['respawns']})"
    assert late["failures"] >= late["respawns"] > 0
    assert "SIGSEGV" in late["last failure"]["reason"] and "while starting" in late["last failure"]["reason"]
    cpu = (cpu_late - cpu_early) / window
    assert cpu < 0.10, f"the master used {cpu:.0%} of a CPU while backing off"
    assert "restarting in" in s.log_text()

    # Fix the config and reload: the pool comes up.
    s.config["models"] = [{"name": "echo", "kind": "echo"}]
    s.write_config()
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: (lambda r: r is not None and r.status_code == 200)(_get(s, "/v2/health/ready")), 20,
               interval=0.1, what="the pool to come up after the reload")
    st = wait_until(reload_done(s, 2, 2), 20, interval=0.1, what="2 ready workers of generation 2")
    assert st["source"] == "worker"
    expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]}))


def _get(stack: u.Stack, path: str):
    try:
        return requests.get(stack.base_url + path, timeout=5)
    except requests.RequestException:
        return None


# --------------------------------------------------------------------------------------------
# 7. SIGKILL the master
# --------------------------------------------------------------------------------------------

def test_7_children_die_with_a_sigkilled_master(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-orphans")
    pid = s.proc.pid
    children = u.descendants_of(pid)
    assert len(s.worker_pids()) == 2 and s.nginx_pids()
    assert len(children) >= 4, children  # 2 workers, nginx master + worker
    os.kill(pid, signal.SIGKILL)
    s.proc.wait(5)
    killed_at = time.monotonic()
    wait_until(lambda: not [p for p in children if u.pid_alive(p)], 2, interval=0.02,
               what=f"every child of the killed master to exit ({children})")
    assert time.monotonic() - killed_at <= 2
    # The killed master could not clean up: its socket stays (a new master removes it); nothing else is left.
    res = s.stop()
    assert not res.leftover_pids, res.leftover_pids
    for sock in s.sockets():
        sock.unlink()


# --------------------------------------------------------------------------------------------
# 8. SIGKILL nginx and the gRPC process
# --------------------------------------------------------------------------------------------

def _nginx_master(stack: u.Stack) -> int | None:
    masters = [p for p in u.children_of(stack.proc.pid) if u.comm_of(p).startswith("nginx")]
    return masters[0] if len(masters) == 1 else None


def test_8_sigkilled_nginx_is_back_within_two_seconds(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-nginx")
    old = _nginx_master(s)
    assert old
    old_workers = u.children_of(old)
    os.kill(old, signal.SIGKILL)
    killed_at = time.monotonic()

    def serving():
        new = _nginx_master(s)
        if not new or new == old:
            return None
        r = _get(s, "/v2/health/live")
        return new if r is not None and r.status_code == 200 else None

    new = wait_until(serving, 2, interval=0.05, what="a new nginx serving")
    assert time.monotonic() - killed_at <= 2
    # The killed master's workers do not linger on the port.
    wait_until(lambda: not [p for p in old_workers if u.pid_alive(p)], 2, what="the old nginx workers to exit")
    assert status(s)["nginx"]["restarts"] == 1
    assert status(s)["nginx"]["pid"] == new


def test_8_sigkilled_grpc_server_is_back_within_two_seconds(make_stack):
    grpc_port = u.free_port()

    def with_grpc(cfg):
        cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": grpc_port}

    s = make_stack(config=with_grpc, name="pm-grpc", start=False)
    s.spawn()
    deadline = time.monotonic() + 30

    def grpc_listening():
        with socket.socket() as c:
            c.settimeout(0.3)
            return c.connect_ex(("127.0.0.1", grpc_port)) == 0

    while time.monotonic() < deadline:
        if s.proc.poll() is not None or "no such role" in s.log_text():
            s.stop()
            pytest.skip("this build has no gRPC role (KServeGRPC is not wired into ModelServer yet)")
        if grpc_listening():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the gRPC server never listened\n" + s.log_tail())

    def grpc_pid():
        kids = [p for p in u.children_of(s.proc.pid) if p not in s.nginx_pids()]
        st = try_status(s)
        return st["grpc"]["pid"] if st and "grpc" in st and st["grpc"]["pid"] in kids else None

    old = wait_until(grpc_pid, 10, what="the gRPC server's pid in the status page")
    os.kill(old, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: (lambda p: p and p != old and grpc_listening())(grpc_pid()), 2, interval=0.05,
               what="a new gRPC server listening")
    assert time.monotonic() - killed_at <= 2


# --------------------------------------------------------------------------------------------
# 9. TTIN / TTOU
# --------------------------------------------------------------------------------------------

def test_9_ttin_then_ttou_goes_two_three_two(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-scale")
    assert len(s.worker_pids()) == 2
    os.kill(s.proc.pid, signal.SIGTTIN)
    three = wait_until(worker_count(s, 3), 10, what="3 workers after SIGTTIN")
    wait_until(lambda: (lambda x: x and x["idle workers"] + x["active workers"] == 3)(try_status(s)), 10,
               what="3 ready workers")
    os.kill(s.proc.pid, signal.SIGTTOU)
    two = wait_until(worker_count(s, 2), 10, what="2 workers after SIGTTOU")
    assert set(two) < set(three)
    # the master frees the slot when it reaps the exited worker, a moment after the process is gone
    wait_until(lambda: (lambda x: x and x["target workers"] == 2 and x["total workers"] == 2)(try_status(s)), 10,
               what="status: 2 target and 2 total workers")
    for _ in range(3):  # never below one
        os.kill(s.proc.pid, signal.SIGTTOU)
    wait_until(worker_count(s, 1), 10, what="1 worker")
    time.sleep(0.5)
    assert len(s.worker_pids()) == 1
    expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]}))


# --------------------------------------------------------------------------------------------
# 10. SIGHUP with an invalid config
# --------------------------------------------------------------------------------------------

def test_10_reload_with_an_invalid_config_keeps_the_pool(make_stack):
    s = make_stack(config=pm_config(workers=2), name="pm-badreload")
    before = sorted(s.worker_pids())
    good = s.config_path.read_text()
    with Load(s, threads=2, kind="echo") as load:
        time.sleep(0.3)
        s.config_path.write_text(good.replace("workers = 2", 'workers = "three"'))
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_until(lambda: "reload rejected" in s.log_text(), 5, what="the rejection in the log")
        time.sleep(0.5)
    line = next(l for l in s.log_text().splitlines() if "reload rejected" in l)
    assert "[server] workers" in line and 'expected a positive integer or "auto", got "three"' in line, line
    assert not load.failures, load.failures[:3]
    assert load.total > 10
    assert sorted(s.worker_pids()) == before
    st = status(s)
    assert st["generation"] == 1 and st["reloads"] == 0
    # A worker that dies now is respawned with the config the master validated, not the broken file.
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: (lambda x: x and x["idle workers"] + x["active workers"] == 2 and x["respawns"] == 1)(
        try_status(s)), 10, what="the respawned worker to be ready")
    s.config_path.write_text(good)


# --------------------------------------------------------------------------------------------
# the status page, the gauges, the slow log, the accept queue, USR1, the command line
# --------------------------------------------------------------------------------------------

def test_status_page_and_pool_gauges(make_stack):
    s = make_stack(config=pm_config(workers=2, slow_request_threshold=0.2), name="pm-status")
    api = Api(s.base_url)
    expect_json(api.post("/v2/models/sleep/infer", json=sleep_body(400)))
    # The first status request after the slow one: whichever worker answers, the slow one's last request is it.
    full = status(s, full=True)
    assert max(w["last request duration"] for w in full["workers"]) >= 400_000  # µs
    me = [w for w in full["workers"] if w["state"] == "Busy"]
    assert len(me) == 1 and me[0]["request uri"] == "/status" and me[0]["request method"] == "GET"
    for w in full["workers"]:
        assert w["pid"] in s.worker_pids() and w["rss"] > 1 << 20 and w["generation"] == 1
    st = status(s)
    for key in ["pool", "process manager", "start time", "start since", "accepted conn", "listen queue",
                "max listen queue", "listen queue len", "idle workers", "active workers", "total workers",
                "max active workers", "respawns", "recycles", "timeouts", "failures", "slow requests"]:
        assert key in st, key
    assert st["total workers"] == 2 and st["active workers"] == 1  # this request's own worker
    assert st["slow requests"] == 1
    assert st["listen queue"] == 0 and st["listen queue len"] == 511
    assert "workers" not in st
    slow = [l for l in s.log_text().splitlines() if "slow request" in l]
    assert slow and "model=sleep" in slow[0] and "/v2/models/sleep/infer" in slow[0], slow
    metrics = api.get("/metrics").text
    for name in ["kserve_workers_active", "kserve_workers_idle", "kserve_workers_total", "kserve_listen_queue_length",
                 "kserve_worker_respawns_total", "kserve_slow_requests_total", "kserve_accepted_requests_total"]:
        assert f"\n{name} " in metrics, name
    assert "\nkserve_slow_requests_total 1\n" in metrics
    r = api.post("/status", data=b"")
    expect_error(r, 405)


def test_listen_queue_is_the_real_accept_queue(make_stack):
    """One worker, five 1 s requests at once: four wait in the socket's accept queue, and the pool sees it
    (php-fpm reports 0 for a Unix socket; this is the kernel's figure, sampled by the master every second)."""
    s = make_stack(config=pm_config(workers=1), name="pm-queue")
    threads = [threading.Thread(target=lambda: requests.post(
        s.base_url + "/v2/models/sleep/infer", json=sleep_body(1000), timeout=30)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    st = status(s)
    assert st["max listen queue"] >= 2, st
    assert st["listen queue"] == 0


def test_usr1_reopens_the_log_file(make_stack, tmp_path):
    log = tmp_path / "kserve.log"
    s = make_stack(config=pm_config(workers=1, log_file=str(log)), name="pm-usr1")
    expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]}))
    wait_until(lambda: "worker ready" in log.read_text(), 5, what="worker lines in the log file")
    rotated = tmp_path / "kserve.log.1"
    log.rename(rotated)
    os.kill(s.proc.pid, signal.SIGUSR1)
    wait_until(log.exists, 3, what="the log file to be reopened")
    expect_json(Api(s.base_url).predict("echo", {"instances": [[2]]}))
    wait_until(lambda: "log files reopened" in log.read_text(), 3, what="the master's line in the new file")
    wait_until(lambda: "POST /v1/models/echo:predict" in log.read_text(), 3,
               what="a worker's access line in the new file")
    assert "POST /v1/models/echo:predict" in rotated.read_text()


def test_command_line_signals_and_config_test(make_stack):
    import subprocess

    s = make_stack(config=pm_config(workers=1), name="pm-cli")
    run = lambda *args: subprocess.run([str(u.kserve_bin()), *args, "-c", str(s.config_path)],  # noqa: E731
                                       capture_output=True, text=True, timeout=30, cwd=s.cwd)
    ok = run("-t")
    assert ok.returncode == 0 and "is valid" in ok.stdout, ok
    s.config["server"]["workers"] = 2
    s.write_config()
    r = run("-s", "reload")
    assert r.returncode == 0, r
    wait_until(reload_done(s, 2, 2), 15, interval=0.1, what="the reload through -s reload")
    good = s.config_path.read_text()
    s.config_path.write_text(good.replace("workers = 2", "workers = 0"))
    bad = run("-t")
    assert bad.returncode == 1 and "[server] workers" in bad.stderr, bad
    s.config_path.write_text(good)
    assert run("-s", "bogus").returncode != 0
    r = run("-s", "stop")
    assert r.returncode == 0, r
    assert s.proc.wait(15) == 0
    res = s.stop()
    assert not res.problems(), res.problems()
    gone = run("-s", "reload")
    assert gone.returncode == 1 and "no master is running" in gone.stderr, gone


def test_reload_rerenders_nginx_and_applies_request_timeout(make_stack):
    s = make_stack(config=pm_config(workers=1), name="pm-nginx-reload")
    nginx = _nginx_master(s)
    s.config["server"]["request_timeout"] = 1
    s.write_config()
    os.kill(s.proc.pid, signal.SIGHUP)
    wait_until(reload_done(s, 2, 1), 15, interval=0.1, what="the reload")
    wait_until(lambda: "fastcgi_read_timeout 1000ms;" in (s.workdir / "run" / "kserve-locations.conf").read_text(),
               5, what="the re-rendered locations")
    assert "reloading nginx (SIGHUP)" in s.log_text()
    time.sleep(0.5)  # nginx's new workers take over
    t0 = time.monotonic()
    r = requests.post(s.base_url + "/v2/models/sleep/infer", json=sleep_body(3000), timeout=30)
    expect_error(r, 504)
    assert time.monotonic() - t0 < 2.5
    assert _nginx_master(s) == nginx, "nginx was restarted instead of reloaded"
