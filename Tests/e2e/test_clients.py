"""Off-the-shelf clients work unchanged: kserve's InferenceRESTClient and tritonclient.http."""

import asyncio
import sys

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient

# Importing kserve runs its argparse over sys.argv (abbreviations allowed), so pytest's own options such as
# --co or --maxfail would make it print a usage message and exit in the middle of collection.
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
    from kserve.protocol.infer_type import RequestedOutput
finally:
    sys.argv = _argv


def _run(coro_fn, protocol):
    async def main():
        client = InferenceRESTClient(RESTConfig(protocol=protocol, timeout=60))
        try:
            return await coro_fn(client)
        finally:
            await client.close()
    return asyncio.run(main())


# ------------------------------------------------------------------------------ kserve client

def test_kserve_client_v1_predict(base_url):
    res = _run(lambda c: c.infer(base_url, {"instances": [[1, 2], [3, 4]]}, model_name="echo"), "v1")
    assert res == {"predictions": [[1, 2], [3, 4]]}


def test_kserve_client_v1_explain(base_url):
    res = _run(lambda c: c.explain(base_url, "echo", {"instances": [[1, 2]]}), "v1")
    assert res == {"predictions": [[1, 2]]}


def test_kserve_client_v2_infer_json(base_url):
    x = np.array([[1.5, 2.5], [3.5, -4.0]], dtype=np.float32)
    inp = InferInput("input-0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    req = InferRequest(model_name="echo", infer_inputs=[inp], request_id="kc-1")
    res = _run(lambda c: c.infer(base_url, req, model_name="echo"), "v2")
    assert res.id == "kc-1"
    assert res.outputs[0].name == "output-0"
    assert np.array_equal(res.outputs[0].as_numpy().reshape(x.shape), x)


def test_kserve_client_v2_infer_binary_input_and_output(base_url):
    x = np.arange(12, dtype=np.int64).reshape(3, 4) - 6
    inp = InferInput("input-0", list(x.shape), "INT64")
    inp.set_data_from_numpy(x, binary_data=True)
    req = InferRequest(model_name="echo", infer_inputs=[inp], request_id="kc-2",
                       request_outputs=[RequestedOutput("output-0", {"binary_data": True})])
    res = _run(lambda c: c.infer(base_url, req, model_name="echo"), "v2")
    out = res.outputs[0]
    assert out.datatype == "INT64" and list(out.shape) == [3, 4]
    assert np.array_equal(out.as_numpy().reshape(3, 4), x)


def test_kserve_client_is_server_ready(base_url):
    assert _run(lambda c: c.is_server_ready(base_url), "v2") is True


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_kserve_client_is_server_live(base_url, protocol):
    assert _run(lambda c: c.is_server_live(base_url), protocol) is True


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_kserve_client_is_model_ready(base_url, protocol):
    assert _run(lambda c: c.is_model_ready(base_url, "echo"), protocol) is True
    assert _run(lambda c: c.is_model_ready(base_url, "broken"), protocol) is False


def test_kserve_client_unknown_model_raises_404_with_message(base_url):
    with pytest.raises(httpx.HTTPStatusError) as e:
        _run(lambda c: c.infer(base_url, {"instances": [[1]]}, model_name="nope"), "v1")
    assert e.value.response.status_code == 404
    assert "Model with name nope does not exist." in str(e.value)


# ------------------------------------------------------------------------------ tritonclient

def test_triton_client_server_live_and_ready(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()


def test_triton_client_model_ready(triton):
    assert triton.is_model_ready("echo")
    assert not triton.is_model_ready("broken")
    assert not triton.is_model_ready("nope")


def test_triton_client_server_metadata(triton):
    md = triton.get_server_metadata()
    assert md["name"] == "kserve" and "model_repository_extension" in md["extensions"]


def test_triton_client_model_metadata(triton):
    md = triton.get_model_metadata("echo")
    assert md["name"] == "echo"
    assert md["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 2]}]


def test_triton_client_model_config(triton):
    cfg = triton.get_model_config("echo")
    assert cfg["name"] == "echo" and cfg["max_batch_size"] == 0
    assert cfg["input"][0]["data_type"] == "TYPE_FP32"


def test_triton_client_statistics_when_advertised(triton):
    if "statistics" not in triton.get_server_metadata()["extensions"]:
        pytest.skip("'statistics' extension not advertised")
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    i = httpclient.InferInput("input-0", [1, 2], "FP32")
    i.set_data_from_numpy(x)
    before = triton.get_inference_statistics("echo")["model_stats"][0]["inference_stats"]["success"]["count"]
    for _ in range(3):
        triton.infer("echo", [i])
    after = triton.get_inference_statistics("echo")["model_stats"][0]["inference_stats"]["success"]["count"]
    assert int(after) - int(before) == 3
