"""deploy/ and the Dockerfile, checked offline (no cluster, no docker daemon here):

- every manifest against KServe's CRD schemas (../shared/reference/kserve-crds, beside the checkout), with unknown
  fields rejected as `kubectl apply --validate=strict` would; the PodMonitor against its own minimal schema;
- a semantic lint of the ClusterServingRuntime (kserve-container, protocol versions, no ports, probe port = the
  --http_port arg, formats this server serves, and kserve-master accepting every arg);
- hadolint on the Dockerfile, and the runtime stage's packages against `ldd` of the binary;
- the server started exactly as the container's entrypoint starts it, once per format of the runtime: the runtime's
  args with {{.Name}} filled in plus an InferenceService's extra args, no config file, a read-only model folder
  trained here; then readiness, a v1 and a v2 prediction equal to the library's, /metrics, SIGTERM -> exit 0.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

import e2e_util as u

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CRDS = ROOT.parent / "shared" / "reference" / "kserve-crds"
CRD_FILES = {
    "ServingRuntime": "serving.kserve.io_servingruntimes.yaml",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml",
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
}
RUNTIME = DEPLOY / "kserve" / "clusterservingruntime.yaml"
FORMATS = ["xgboost", "lightgbm", "onnx"]


def strict(schema):
    """`--validate=strict`: objects with properties and no preserve-unknown-fields reject other keys."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields") \
                and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validator(kind: str, api_version: str):
    import jsonschema
    path = CRDS / CRD_FILES[kind]
    if not path.exists():
        pytest.fail(f"the KServe CRD schemas are expected in {CRDS} (shared/ beside the checkout)")
    crd = yaml.safe_load(path.read_text())
    version = api_version.split("/")[-1]
    v = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    return jsonschema.Draft7Validator(strict(v["schema"]["openAPIV3Schema"]))


PODMONITOR_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PodMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {"type": "object", "additionalProperties": False, "required": ["selector", "podMetricsEndpoints"],
                 "properties": {
                     "selector": {"type": "object"},
                     "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "additionalProperties": False,
                         "properties": {"port": {"type": "string"}, "targetPort": {"type": ["integer", "string"]},
                                        "path": {"type": "string"}, "interval": {"type": "string"}}}}}},
    },
}


def manifests():
    docs = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.relative_to(ROOT), doc))
    return docs


def errors_of(doc) -> list[str]:
    import jsonschema
    kind = doc.get("kind")
    if kind in CRD_FILES:
        validator = crd_validator(kind, doc["apiVersion"])
    elif kind == "PodMonitor":
        validator = jsonschema.Draft7Validator(PODMONITOR_SCHEMA)
    else:
        return [f"no schema for kind {kind!r}: keep it apart from deploy/ or add its schema"]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("path,doc", manifests(), ids=lambda x: str(x) if isinstance(x, Path) else "")
def test_manifest_matches_its_schema(path, doc):
    assert not errors_of(doc), f"{path}: " + "; ".join(errors_of(doc))


def test_unknown_fields_fail_the_check():
    doc = yaml.safe_load(RUNTIME.read_text())
    bad = copy.deepcopy(doc)
    bad["spec"]["containers"][0]["argz"] = ["--model_name=x"]
    assert any("argz" in e for e in errors_of(bad))
    bad = copy.deepcopy(doc)
    bad["spec"]["supportedModelFormats"][0]["autoselect"] = True
    assert errors_of(bad)
    isvc = yaml.safe_load((DEPLOY / "kserve" / "examples" / "onnx.yaml").read_text())
    isvc["spec"]["predictor"]["model"]["storageURI"] = "s3://x"
    assert errors_of(isvc)


def runtime_container():
    doc = yaml.safe_load(RUNTIME.read_text())
    return doc, next(c for c in doc["spec"]["containers"] if c["name"] == "kserve-container")


def arg_value(args, flag):
    value = None
    for a in args:
        if a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def test_runtime_semantics():
    doc, container = runtime_container()
    spec = doc["spec"]
    assert set(spec["protocolVersions"]) <= {"v1", "v2", "grpc-v1", "grpc-v2"}
    assert {"v1", "v2", "grpc-v2"} <= set(spec["protocolVersions"])
    for c in spec["containers"]:
        assert "ports" not in c, "a runtime must not declare ports (Knative merges them by number)"
    args = container["args"]
    assert "--model_name={{.Name}}" in args and "--model_dir=/mnt/models" in args
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/v2/health/ready"
    assert str(probe["port"]) == arg_value(args, "--http_port")
    names = [f["name"] for f in spec["supportedModelFormats"]]
    assert sorted(names) == sorted(FORMATS)
    for f in spec["supportedModelFormats"]:
        assert "priority" not in f or f.get("autoSelect"), "priority only counts with autoSelect"
    annotations = spec["annotations"]
    assert annotations["prometheus.kserve.io/port"] == arg_value(args, "--http_port")
    sc = container["securityContext"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert sc["runAsNonRoot"] and f"USER {sc['runAsUser']}:" in dockerfile


def fill(args, name: str, model_dir: Path) -> list[str]:
    return [a.replace("{{.Name}}", name).replace("/mnt/models", str(model_dir)) for a in args]


def test_kserve_master_accepts_every_runtime_arg(tmp_path):
    _, container = runtime_container()
    folder = tmp_path / "m"
    folder.mkdir()
    train_xgboost(folder)
    r = subprocess.run([str(u.kserve_bin()), *fill(container["args"], "lint", folder), "-t"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unknown" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert "lint" in r.stdout


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    r = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def runtime_packages(dockerfile: str) -> set[str]:
    final = dockerfile[dockerfile.rindex("\nFROM "):]
    line = re.search(r"apt-get -q install -y --no-install-recommends ([^\\\n&]+)", final)
    assert line, "the runtime stage installs its packages with apt-get install"
    return set(line.group(1).split())


def test_runtime_stage_provides_every_library_the_binary_links():
    """ldd of the release binary (the debug one when no release build exists, less Swift's own libraries, which
    the image links statically with --static-swift-stdlib), each library mapped to its Debian package."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--static-swift-stdlib" in dockerfile
    release = ROOT / ".build" / "release" / "kserve-master"
    binary = release if release.exists() else u.kserve_bin()
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if not m or "/opt/swift/" in m.group(2) or "/usr/lib/swift/" in m.group(2):
            continue
        needed[m.group(1)] = m.group(2)
    assert "libfcgi.so.0" in needed, needed
    packages = runtime_packages(dockerfile)
    for lib, path in needed.items():
        candidates = {path, os.path.realpath(path)}
        for p in list(candidates):
            if p.startswith("/usr/lib/"):
                candidates.add(p[len("/usr"):])
            elif p.startswith("/lib/"):
                candidates.add("/usr" + p)
        owner = None
        for p in candidates:
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        assert owner, f"no Debian package owns {lib} ({path})"
        assert owner in packages, f"{lib} comes from {owner}, which the runtime stage does not install ({packages})"
    assert "libonnxruntime.so" not in out, "ONNX Runtime is loaded at run time, never linked"
    assert "/usr/local/lib/libonnxruntime.so" in dockerfile


# ---------------------------------------------------------------------------------------------------------------
# the container's entrypoint, once per format
# ---------------------------------------------------------------------------------------------------------------

def iris():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


def train_xgboost(folder: Path):
    import xgboost as xgb
    x, y = iris()
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, xgb.DMatrix(x, label=y), 10)
    booster.save_model(str(folder / "model.json"))
    return lambda rows: booster.predict(xgb.DMatrix(rows))


def train_lightgbm(folder: Path):
    import lightgbm as lgb
    x, y = iris()
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 7},
                        lgb.Dataset(x, label=y), 10)
    booster.save_model(str(folder / "model.txt"))
    return lambda rows: booster.predict(rows)


def train_onnx(folder: Path):
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    x, y = iris()
    clf = LogisticRegression(max_iter=500).fit(x.astype(np.float32), y)
    model = to_onnx(clf, x[:1].astype(np.float32), options={id(clf): {"zipmap": False}}, target_opset=17)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(str(folder / "model.onnx"), so, providers=["CPUExecutionProvider"])
    return lambda rows: session.run(None, {"X": rows.astype(np.float32)})[0]  # label: the first output


TRAIN = {"xgboost": train_xgboost, "lightgbm": train_lightgbm, "onnx": train_onnx}


def snapshot(folder: Path):
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_entrypoint_serves_each_format_from_kserves_args_alone(tmp_path, fmt):
    _, container = runtime_container()
    models = tmp_path / "models"
    models.mkdir()
    predict = TRAIN[fmt](models)
    for p in [models, *models.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = snapshot(models)
    name = f"iris-{fmt}"
    http, grpc_port = u.free_port(), u.free_port()
    # The runtime's args, then an InferenceService's: the last value of a repeated flag wins.
    args = fill(container["args"], name, models) + ["--workers=1", f"--http_port={http}", f"--grpc_port={grpc_port}"]
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    env.pop("KSERVE_ONNXRUNTIME_LIBRARY", None)
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(u.kserve_bin()), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=str(tmp_path), start_new_session=True)
    base = f"http://127.0.0.1:{http}"
    try:
        u.wait_process_ready(proc, base, tmp_path / "server.log", extra=f"/v2/models/{name}/ready")
        x, _ = iris()
        rows = x[[0, 60, 120]]
        want = np.asarray(predict(rows))
        r = requests.post(f"{base}/v1/models/{name}:predict", json={"instances": rows.tolist()}, timeout=30)
        assert r.status_code == 200, r.text
        got = np.array(r.json()["predictions"], dtype=want.dtype)
        assert got.shape == want.shape and got.tobytes() == want.tobytes(), (got, want)
        datatype = "FP32" if fmt != "lightgbm" else "FP64"
        input_name = "X" if fmt == "onnx" else "input-0"
        arr = rows.astype(np.float32 if datatype == "FP32" else np.float64)
        r = requests.post(f"{base}/v2/models/{name}/infer", timeout=30, json={"inputs": [
            {"name": input_name, "datatype": datatype, "shape": list(arr.shape), "data": arr.ravel().tolist()}]})
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        assert np.array(out["data"], dtype=want.dtype).reshape(out["shape"]).tobytes() == want.tobytes()
        metrics = requests.get(base + "/metrics", timeout=10)
        assert metrics.status_code == 200 and "request_predict_seconds" in metrics.text
        # every process names its role
        children = u.children_of(proc.pid)
        comms = {u.comm_of(p) for p in children}
        assert "kserve-worker" in comms and "kserve-grpc" in comms, comms
        titles = {Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0] for p in children}
        assert b"kserve: worker 0" in titles and b"kserve: grpc" in titles, titles
        assert u.comm_of(proc.pid) == "kserve-master"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0, (tmp_path / "server.log").read_text()[-3000:]
    finally:
        u.kill_group(proc)
        log.close()
        for p in [models, *models.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert snapshot(models) == before, "nothing is written beside the model"
    assert not list(tmp_path.glob("models/*.sock"))


def test_unknown_model_folder_lists_files_and_formats(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"x")
    r = subprocess.run([str(u.kserve_bin()), "--model_name=m", f"--model_dir={tmp_path}", "-t"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert "weights.pt" in text and "onnx, xgboost, lightgbm" in text, text


def test_multi_model_serving_loads_models_the_agent_puts_in_the_model_dir(tmp_path):
    """KServe's TrainedModel flow: the server starts on an empty model folder; the model agent writes
    <model_dir>/<name> and calls the repository load, which every worker applies."""
    models = tmp_path / "models"
    models.mkdir()
    http = u.free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(u.kserve_bin()), "--model_name=mms", f"--model_dir={models}", "--workers=2",
                             f"--http_port={http}", "--enable_grpc=false"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{http}"
    try:
        u.wait_process_ready(proc, base, tmp_path / "server.log")
        assert requests.get(base + "/v1/models", timeout=5).json()["models"] == []
        (models / "tm1").mkdir()
        predict = train_lightgbm(models / "tm1")
        r = requests.post(base + "/v2/repository/models/tm1/load", timeout=60)
        assert r.status_code == 200 and r.json() == {"name": "tm1", "load": True}, r.text
        x, _ = iris()
        want = np.asarray(predict(x[:3]))
        for _ in range(8):  # every worker serves it
            r = requests.post(base + "/v1/models/tm1:predict", json={"instances": x[:3].tolist()}, timeout=30)
            assert r.status_code == 200, r.text
            assert np.array(r.json()["predictions"]).tobytes() == want.tobytes()
        r = requests.post(base + "/v2/repository/models/nothing-here/load", timeout=30)
        assert r.status_code == 404 and "nothing-here" in r.json()["error"], r.text
        (models / "odd").mkdir()
        (models / "odd" / "weights.pt").write_bytes(b"x")
        r = requests.post(base + "/v2/repository/models/odd/load", timeout=30)
        assert r.status_code == 400 and "weights.pt" in r.json()["error"], r.text
        r = requests.post(base + "/v2/repository/models/..%2Fetc/load", timeout=30)
        assert r.status_code in (400, 404), r.text
        r = requests.post(base + "/v2/repository/models/tm1/unload", timeout=30)
        assert r.status_code == 200, r.text
        for _ in range(4):
            assert requests.post(base + "/v1/models/tm1:predict", json={"instances": x[:1].tolist()},
                                 timeout=30).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        u.kill_group(proc)
        log.close()
