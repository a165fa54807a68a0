"""CPU time per gRPC call, summed over every process of our stack (master, gRPC process, workers, nginx), plus
the gRPC process alone and the sequential p50: a load-independent measure (CPU seconds, not wall time).

    KSERVE_BIN=.build/release/kserve-master .venv/bin/python Tests/bench/grpc_cpu.py [--calls 2000] [--env K=V]
        [--through-nginx true|false]

Reads utime+stime from /proc/PID/stat of each process before and after N sequential ModelInfer calls on one
channel (the client is excluded).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
import e2e_util as u  # noqa: E402
import grpc  # noqa: E402
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / TICK
    except (OSError, IndexError):
        return 0.0


def switches(pid: int) -> int:
    """Voluntary context switches of every thread of a process (each is a thread going to sleep: a wake-up)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def role(pid: int) -> str:
    try:
        for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if e.startswith(b"KSERVE_ROLE="):
                return e.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return "nginx/other"


def request(floats: int) -> bytes:
    r = pb.ModelInferRequest(model_name="echo")
    t = r.inputs.add()
    t.name, t.datatype = "input-0", "FP32"
    t.shape.extend([1, floats])
    r.raw_input_contents.append(b"\0\0\x80\x3f" * floats)
    return r.SerializeToString()


def measure(call, body: bytes, n: int, pids: list[int], grpc_pid: int):
    for _ in range(min(50, n)):
        call(body)
    before = {p: cpu(p) for p in pids}
    sw = switches(grpc_pid)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        call(body)
        lat.append(time.perf_counter() - t)
    after = {p: cpu(p) for p in pids}
    sw = (switches(grpc_pid) - sw) / n
    total = sum(after[p] - before[p] for p in pids)
    roles: dict[str, float] = {}
    for p in pids:
        roles[role(p)] = roles.get(role(p), 0.0) + (after[p] - before[p]) / n * 1e6
    return total / n * 1e6, roles, statistics.median(lat) * 1e3, sw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--big-calls", type=int, default=40)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--through-nginx", choices=["true", "false"], default="true",
                    help="[grpc] through_nginx: ModelInfer via nginx's HTTP/2 listener (default) or the gRPC process")
    a = ap.parse_args()
    cfg = u.default_config()
    cfg["server"]["log_level"] = "warning"
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": u.free_port(), "max_message_size": "16m",
                   "through_nginx": a.through_nginx == "true"}
    env = dict(kv.split("=", 1) for kv in a.env)
    with tempfile.TemporaryDirectory() as d:
        s = u.Stack(Path(d), config=cfg, env=env).start()
        try:
            target = f"127.0.0.1:{cfg['grpc']['port']}"
            ch = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1),
                                                        ("grpc.max_receive_message_length", -1)])
            f = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
            deadline = time.monotonic() + 30
            while True:
                try:
                    f(request(4), timeout=2)
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            pids = [s.proc.pid, *u.descendants_of(s.proc.pid)]
            grpc_pid = next(p for p in pids if role(p) == "grpc")
            call = lambda b: f(b, timeout=30)  # noqa: E731
            for name, body, n in (("small (4 FP32)", request(4), a.calls),
                                  ("4 MB FP32", request(1 << 20), a.big_calls)):
                total, roles, p50, sw = measure(call, body, n, pids, grpc_pid)
                per_role = ", ".join(f"{r} {v:.0f}" for r, v in sorted(roles.items()))
                print(f"{name:16s} calls={n:5d}  stack CPU/call {total:8.1f} us ({per_role})  "
                      f"({sw:5.1f} gRPC-process thread sleeps/call)  p50 {p50:7.3f} ms", flush=True)
            ch.close()
        finally:
            s.stop()


if __name__ == "__main__":
    main()
