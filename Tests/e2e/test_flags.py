"""KServe 0.21's flags: each one is implemented, or refused with a message saying why; unknown flags are logged
one by one and ignored, as KServe's parse_known_args does."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import e2e_util as u



def run_t(*args, env=None) -> subprocess.CompletedProcess:
    conf = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "kserve.conf")
    return subprocess.run([str(u.kserve_bin()), "-c", conf, "-t", *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **(env or {})))


def test_max_threads_and_max_asyncio_workers_change_what_t_reports():
    base = run_t()
    assert base.returncode == 0, base.stderr
    assert "1 accept loops per worker" in base.stdout and "4 calls in flight" in base.stdout, base.stdout
    r = run_t("--max_threads=5", "--max_asyncio_workers", "3")
    assert r.returncode == 0, r.stderr
    assert "3 accept loops per worker (max_asyncio_workers)" in r.stdout
    assert "5 calls in flight (max_threads)" in r.stdout
    bad = run_t("--max_threads=0")
    assert bad.returncode != 0 and "--max_threads" in bad.stdout + bad.stderr


@pytest.mark.parametrize("flag,why", [
    ("--ssl_certfile=/etc/tls/cert.pem", "TLS ends at nginx"),
    ("--ssl_keyfile=/etc/tls/key.pem", "TLS ends at nginx"),
    ("--event_loop=uvloop", "no Python event loop"),
    ("--timeout_keep_alive=30", "keepalive_timeout"),
])
def test_kserve_flags_that_do_not_carry_over_are_refused_with_why(flag, why):
    r = run_t(flag)
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert flag.split("=")[0] in text and why in text, text


def test_kserve_loglevel_is_checked():
    r = run_t(env={"KSERVE_LOGLEVEL": "loud"})
    assert r.returncode != 0 and "KSERVE_LOGLEVEL" in r.stdout + r.stderr
    assert run_t(env={"KSERVE_LOGLEVEL": "DEBUG"}).returncode == 0


def test_unknown_flags_are_logged_one_by_one_and_ignored(make_stack):
    s = make_stack(args=["--my_custom_flag=1", "--another", "x", "--protocol=v2"])
    assert u.Api(s.base_url).get("/v2/health/ready").status_code == 200
    text = s.log_text()
    assert "ignoring unknown flag --my_custom_flag" in text
    assert "ignoring unknown flag --another" in text
    assert "ignoring --protocol: deprecated" in text


def test_grpc_message_lengths_are_per_direction(make_stack):
    pb = pytest.importorskip("kserve.protocol.grpc.grpc_predict_v2_pb2")
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
    port = u.free_port()

    def cfg(c):
        c["grpc"] = {"enable": True, "host": "127.0.0.1", "port": port}
    s = make_stack(config=cfg, args=["--grpc_max_receive_message_length=4096", "--grpc_max_send_message_length=2048"])
    del s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = pbg.GRPCInferenceServiceStub(channel)

        def infer(n: int):
            return stub.ModelInfer(pb.ModelInferRequest(model_name="echo", inputs=[
                pb.ModelInferRequest.InferInputTensor(name="x", datatype="UINT8", shape=[n])],
                raw_input_contents=[b"\1" * n]), timeout=30)
        assert infer(1000).raw_output_contents[0] == b"\1" * 1000
        with pytest.raises(grpc.RpcError) as e:
            infer(3000)  # the request fits (4096) but the echoed response does not (2048)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "send" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            infer(5000)  # the request itself is over 4096
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "receive" in e.value.details()


def settings(result: subprocess.CompletedProcess) -> dict[str, str]:
    """The `key: value` lines `-t` prints after its verdict."""
    out = {}
    for line in result.stdout.splitlines():
        if line.startswith("  ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            out[key.split(" ")[0]] = value
    return out


def test_logging_docs_and_grpc_flags_change_what_t_reports(tmp_path):
    base = run_t()
    assert base.returncode == 0, base.stderr
    b = settings(base)
    assert b["enable_docs_url"] == "false" and b["configure_logging"] == "true" and b["log_level"] == "info"
    assert b["access_log_format"].startswith("- (built in")
    assert b["grpc_max_receive_message_length"] == str(64 << 20) == b["grpc_max_send_message_length"]

    r = run_t("--enable_docs_url=true", "--configure_logging=false", "--access_log_format", "%(h)s %(r)s %(s)s",
              "--grpc_max_receive_message_length=1000", "--grpc_max_send_message_length", "2000",
              "--max_threads=9", "--max_asyncio_workers=3")
    assert r.returncode == 0, r.stdout + r.stderr
    s = settings(r)
    assert s["enable_docs_url"].startswith("true (Swagger UI from "), s
    assert s["configure_logging"] == "false"
    assert s["access_log_format"] == "%(h)s %(r)s %(s)s"
    assert (s["grpc_max_receive_message_length"], s["grpc_max_send_message_length"]) == ("1000", "2000")
    assert (s["max_threads"], s["max_asyncio_workers"]) == ("9", "3")

    assert settings(run_t(env={"KSERVE_LOGLEVEL": "WARN"}))["log_level"] == "warning"

    conf = tmp_path / "logging.json"
    conf.write_text('{"level": "debug", "file": "logs/kserve.log", "access_log_format": "%(m)s %(U)s", '
                    '"enable_latency_logging": false}')
    s = settings(run_t(f"--log_config_file={conf}"))
    assert (s["log_level"], s["log_file"], s["access_log_format"], s["enable_latency_logging"]) == \
        ("debug", str(tmp_path / "logs" / "kserve.log"), "%(m)s %(U)s", "false")
    # the flags and KSERVE_LOGLEVEL win over the file
    s = settings(run_t(f"--log_config_file={conf}", "--access_log_format=%(s)s", env={"KSERVE_LOGLEVEL": "error"}))
    assert (s["log_level"], s["access_log_format"]) == ("error", "%(s)s")


@pytest.mark.parametrize("text,why", [
    ('{"version": 1, "handlers": {}}', "dictConfig"),
    ('{"level": "loud"}', "level"),
    ('{"colour": true}', "unknown key"),
    ("level: debug", "JSON"),
    ('{"access_log_format": "%(h)s %(Y)s"}', "%(Y)s"),
])
def test_bad_log_config_files_are_refused_with_why(tmp_path, text, why):
    conf = tmp_path / "logging.conf"
    conf.write_text(text)
    r = run_t(f"--log_config_file={conf}")
    assert r.returncode != 0
    assert why in r.stdout + r.stderr and str(conf) in r.stdout + r.stderr, r.stdout + r.stderr


def test_status_page_shows_max_threads_and_max_asyncio_workers(make_stack):
    def cfg(c):
        c["grpc"] = {"enable": True, "host": "127.0.0.1", "port": u.free_port()}
    s = make_stack(config=cfg, args=["--max_threads=7", "--max_asyncio_workers=2"])
    status = u.expect_json(u.Api(s.base_url).get("/status"))
    assert (status["max_threads"], status["max_asyncio_workers"]) == (7, 2), status
    plain = make_stack()
    status = u.expect_json(u.Api(plain.base_url).get("/status"))
    assert status["max_threads"] is None and status["max_asyncio_workers"] == 1, status


def test_configure_logging_false_leaves_the_log_handler_alone(make_stack):
    # With the server's handler, KSERVE_LOGLEVEL=error silences the info lines ...
    quiet = make_stack(env={"KSERVE_LOGLEVEL": "error"})
    assert u.Api(quiet.base_url).get("/v2/health/ready").status_code == 200
    assert "worker ready" not in quiet.log_text()
    # ... with --configure_logging=false swift-log keeps its own default handler (stderr, info) and its level
    s = make_stack(args=["--configure_logging=false"], env={"KSERVE_LOGLEVEL": "error"})
    assert u.Api(s.base_url).get("/v2/health/ready").status_code == 200
    deadline = time.monotonic() + 10
    while "worker ready" not in s.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "worker ready" in s.log_text()
