"""The master process: config file, command line, socket, workers, nginx, clean stop."""

import os
import signal
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import e2e_util as u
from e2e_util import Api, describe, expect_error, expect_json


def _run_expect_exit(cmd_args, cwd, timeout=15):
    """Run kserve-master expecting it to exit by itself; returns (returncode, output)."""
    p = subprocess.Popen([str(u.kserve_bin()), *cmd_args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        for pid in u.group_members(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out, _ = p.communicate(timeout=5)
        pytest.fail(f"kserve-master did not exit within {timeout}s; output:\n{out.decode(errors='replace')}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ------------------------------------------------------------------------------ processes and socket

def test_master_runs_the_configured_number_of_workers_and_nginx(stack):
    assert len(stack.worker_pids()) == 2, f"worker pids: {stack.worker_pids()}, children: " \
        f"{[(p, u.comm_of(p)) for p in u.children_of(stack.proc.pid)]}"
    assert stack.nginx_pids(), "no nginx process under the master"


def test_fastcgi_socket_is_mode_0660_in_run_dir_next_to_the_config(stack):
    socks = stack.sockets()
    assert socks, f"no socket file under {stack.workdir}"
    run_dir = stack.workdir / "run"
    for s in socks:
        assert run_dir in s.parents, f"socket {s} is not inside run_dir {run_dir} (cwd was {stack.cwd})"
        assert stat.S_IMODE(s.stat().st_mode) == 0o660, f"{s} mode {oct(stat.S_IMODE(s.stat().st_mode))}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_master_workers_nginx_and_removes_socket(make_stack, sig):
    s = make_stack(name=f"stop-{sig.name}")
    workers, nginx = s.worker_pids(), s.nginx_pids()
    assert workers and nginx
    expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]}))
    res = s.stop(timeout=10, sig=sig)
    assert not res.hung, "master did not exit within 10 s"
    assert res.returncode == 0, f"exit code {res.returncode}\n{s.log_tail()}"
    assert res.sockets_before, "no socket existed while running"
    assert not res.leftover_sockets, f"socket left behind: {res.leftover_sockets}"
    assert not res.leftover_pids, f"still alive: {res.leftover_pids}"
    assert not any(u.pid_alive(p) for p in workers + nginx)
    assert not _port_open(s.port), "HTTP port still accepting after stop"


def _second_master_must_refuse(first: u.Stack, cfg_b: dict, name: str) -> str:
    sockets = first.sockets()
    b_path = first.workdir / name
    b_path.write_text(u.toml_dumps(cfg_b))
    rc, out = _run_expect_exit(["-c", str(b_path)], cwd=first.cwd)
    assert rc != 0, f"second master exited 0:\n{out}"
    assert all(p.exists() for p in sockets), "the second master removed the live socket"
    for i in range(4):
        assert expect_json(Api(first.base_url).predict("echo", {"instances": [[i]]})) == {"predictions": [[i]]}
    assert not _port_open(cfg_b["http"]["port"])
    return out


def test_second_master_with_the_same_run_dir_refuses_to_start(make_stack):
    a = make_stack(name="first")
    out = _second_master_must_refuse(a, u.default_config(), "second.toml")
    assert str(a.workdir / "run") in out, f"message does not name the run folder in conflict:\n{out}"


def test_second_master_refuses_to_replace_a_live_socket(make_stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("twice")
    sock = str(work / "shared.sock")  # absolute: the same socket, while each master has its own run_dir
    cfg = u.default_config()
    cfg["server"]["socket"] = sock
    a = make_stack(config=cfg, workdir=work, name="first")
    assert [str(p) for p in a.sockets()] == [sock]
    cfg_b = u.default_config()
    cfg_b["server"]["socket"] = sock
    cfg_b["server"]["run_dir"] = "run-b"
    out = _second_master_must_refuse(a, cfg_b, "second.toml")
    assert "socket" in out.lower() and sock in out, f"message does not name the socket:\n{out}"


def test_stale_socket_is_replaced(make_stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("stale")
    (work / "run").mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(work / "run" / "kserve.sock"))
    stale.close()  # file stays, nobody listens
    cfg = u.default_config()
    cfg["server"]["socket"] = str(work / "run" / "kserve.sock")
    s = make_stack(config=cfg, workdir=work, name="stale")
    expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]}))


# ------------------------------------------------------------------------------ config errors

def _bad_config(tmp_path, name, edit):
    cfg = u.default_config()
    edit(cfg)
    p = tmp_path / name
    p.write_text(u.toml_dumps(cfg))
    return p, cfg


@pytest.mark.parametrize("case,key,edit", [
    ("unknown-server-key", "bogus_key", lambda c: c["server"].update(bogus_key=1)),
    ("unknown-http-key", "colour", lambda c: c["http"].update(colour="red")),
    ("unknown-model-key", "bogus_option", lambda c: c["models"][0].update(bogus_option=True)),
    ("bad-workers", "workers", lambda c: c["server"].update(workers="two")),
    ("zero-workers", "workers", lambda c: c["server"].update(workers=0)),
    ("bad-size", "max_body_size", lambda c: c["http"].update(max_body_size="12q")),
    ("bad-port", "port", lambda c: c["http"].update(port=70000)),
    ("unknown-kind", "kind", lambda c: c["models"][0].update(kind="no-such-kind")),
])
def test_bad_config_is_a_startup_error_naming_key_and_file(tmp_path, case, key, edit):
    path, cfg = _bad_config(tmp_path, f"e2e-{case}.toml", edit)
    (tmp_path / "cwd").mkdir()
    rc, out = _run_expect_exit(["-c", str(path)], cwd=tmp_path / "cwd")
    assert rc != 0, f"started with a bad config:\n{out}"
    assert key in out, f"output does not name the key {key!r}:\n{out}"
    assert path.name in out, f"output does not name the file {path.name}:\n{out}"
    port = cfg["http"]["port"]
    if isinstance(port, int) and port < 65536:
        assert not _port_open(port)


def test_missing_config_file_is_a_startup_error(tmp_path):
    rc, out = _run_expect_exit(["-c", str(tmp_path / "missing.toml")], cwd=tmp_path)
    assert rc != 0 and "missing.toml" in out, out


# ------------------------------------------------------------------------------ command line

def test_kserve_flags_override_the_config_file(make_stack):
    cfg = u.default_config()
    file_port, flag_port = cfg["http"]["port"], u.free_port()
    s = make_stack(config=cfg, args=["--http_port", str(flag_port), "--workers", "1"], start=False, name="flags")
    s.spawn()
    s.port = flag_port
    s.wait_live()
    assert expect_json(Api(s.base_url).predict("echo", {"instances": [[1]]})) == {"predictions": [[1]]}
    assert len(s.worker_pids()) == 1, s.worker_pids()
    assert not _port_open(file_port)


def test_repeated_flag_takes_last_value_and_unknown_flag_is_ignored(make_stack):
    s = make_stack(args=["--workers", "3", "--some_unknown_flag=x", "--workers=1"], name="argv")
    assert len(s.worker_pids()) == 1, s.worker_pids()
    expect_json(Api(s.base_url).get("/v2/health/ready"))


def test_model_name_flag_names_the_single_configured_model(make_stack):
    def edit(c):
        c["models"] = [{"name": "echo", "kind": "echo"}]
        c["server"]["workers"] = 1
    s = make_stack(config=edit, args=["--model_name", "renamed"], name="model-name")
    a = Api(s.base_url)
    assert expect_json(a.get("/v1/models"))["models"] == ["renamed"]
    assert expect_json(a.predict("renamed", {"instances": [[1]]})) == {"predictions": [[1]]}


def test_enable_latency_logging_flag_overrides_the_config(make_stack):
    s = make_stack(config=lambda c: c["server"].update(workers=1, enable_latency_logging=True),
                   args=["--enable_latency_logging", "false"], name="no-latency")
    a = Api(s.base_url)
    for _ in range(3):
        expect_json(a.predict("echo", {"instances": [[1]]}, headers={"X-Request-Id": "e2e-silent"}))
    time.sleep(1.0)
    lines = [ln for ln in s.log_text().splitlines() if "predict_ms" in ln]
    assert not lines, f"latency lines despite --enable_latency_logging false: {lines[:3]}"


# ------------------------------------------------------------------------------ nginx limits

def test_body_over_max_body_size_is_413_json_from_nginx(make_stack):
    s = make_stack(config=lambda c: (c["http"].update(max_body_size="1k"), c["server"].update(workers=1)),
                   name="small-body")
    a = Api(s.base_url)
    big = {"instances": [[1.0] * 2000]}
    expect_error(a.predict("echo", big), 413)
    expect_error(a.infer("echo", {"inputs": [{"name": "a", "datatype": "FP32", "shape": [2000],
                                               "data": [1.0] * 2000}]}), 413)
    assert expect_json(a.predict("echo", {"instances": [[1]]})) == {"predictions": [[1]]}


# ------------------------------------------------------------------------------ concurrency model

def _timed_sleep(base_url, delay_ms):
    body = {"parameters": {"delay_ms": delay_ms},
            "inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}
    t0 = time.monotonic()
    r = requests.post(base_url + "/v2/models/sleep/infer", json=body, timeout=30)
    return r.status_code, time.monotonic() - t0


def test_two_workers_serve_two_slow_requests_at_once(base_url):
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _timed_sleep(base_url, 800), range(2)))
    total = time.monotonic() - t0
    assert [c for c, _ in results] == [200, 200]
    assert total < 1.5, f"2 x 800 ms on 2 workers took {total:.2f}s (serialised?)"


def test_worker_threads_overlap_io_bound_requests(make_stack):
    s = make_stack(config=lambda c: c["server"].update(workers=1, threads=4), name="threads")
    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: _timed_sleep(s.base_url, 800), range(4)))
    total = time.monotonic() - t0
    assert [c for c, _ in results] == [200] * 4
    assert all(t >= 0.8 for _, t in results)
    assert total < 2.0, f"4 x 800 ms on 1 worker with 4 threads took {total:.2f}s (serial would be 3.2s)"
