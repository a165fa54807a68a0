"""The anchor for `make bench`: KServe 0.21's Python model server with an echo model like ours.

    .venv-bench/bin/python Tests/bench/kserve_echo.py --http_port 8080 --grpc_port 8081 --workers 2 \
        [--model_name echo] [--xgb_model_dir DIR [--xgb_model_name xgb] [--xgb_nthread 1]]

Behaviour, matching the `echo` kind of kserve-swift (Sources/KServeSamples/EchoModel.swift):
  - v1 (`POST /v1/models/echo:predict`): {"predictions": <instances>}.
  - v2 (`POST /v2/models/echo/infer`, REST or gRPC ModelInfer): every input i comes back as output `output-<i>`
    with the same shape, datatype and data, through numpy as a real model would see it (`as_numpy()`), in binary
    when the request asks for binary outputs (REST `binary_data_output`, or gRPC raw inputs), else as JSON / typed
    contents.

With --xgb_model_dir (make bench's XGBoost workload), the same server also serves an XGBoost model named
--xgb_model_name, with xgbserver's model (Tests/bench/kserve_xgb.py): one KServe server answers every workload, as
one kserve-master does.

All of KServe's own flags (`--workers`, `--enable_grpc`, `--enable_latency_logging`, ...) work as usual; nothing is
tuned away from KServe's defaults.
"""

from __future__ import annotations

import argparse
from typing import Dict, Optional, Union

import orjson

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.utils.utils import generate_uuid


class EchoModel(Model):
    def __init__(self, name: str):
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        self.ready = True
        return self.ready

    async def predict(
        self,
        payload: Union[Dict, InferRequest],
        headers: Optional[Dict[str, str]] = None,
        response_headers: Optional[Dict[str, str]] = None,
    ) -> Union[Dict, InferResponse]:
        if isinstance(payload, InferRequest):
            binary = payload.use_binary_outputs
            outputs = []
            for i, inp in enumerate(payload.inputs):
                out = InferOutput(name=f"output-{i}", shape=list(inp.shape), datatype=inp.datatype)
                out.set_data_from_numpy(inp.as_numpy(), binary_data=binary)
                outputs.append(out)
            return InferResponse(
                response_id=payload.id or generate_uuid(),
                model_name=self.name,
                infer_outputs=outputs,
                parameters=payload.parameters,
                use_binary_outputs=binary,
                from_grpc=payload.from_grpc,
            )
        if isinstance(payload, (bytes, bytearray)):  # a body sent without a JSON content type
            payload = orjson.loads(payload)
        instances = payload.get("instances", payload.get("inputs"))
        return {"predictions": instances}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--xgb_model_dir", help="also serve this XGBoost model (file, or folder holding one)")
    parser.add_argument("--xgb_model_name", default="xgb")
    parser.add_argument("--xgb_nthread", type=int, default=1, help="xgboost threads (xgbserver's default: 1)")
    args, _ = parser.parse_known_args()
    name = args.model_name if args.model_name != "model" else "echo"
    models = [EchoModel(name)]
    if args.xgb_model_dir:
        from kserve_xgb import XGBoostModel  # imports xgboost only when asked to

        xgb_model = XGBoostModel(args.xgb_model_name, args.xgb_model_dir, args.xgb_nthread)
        xgb_model.load()
        models.append(xgb_model)
    ModelServer().start(models)
