"""make bench, XGBoost workload: the benchmark model, and KServe 0.21's side of it (a KServe Python model wrapping
xgboost, as KServe's xgbserver does).

    # train the benchmark model (deterministic) and write the request the load sends, with the expected predictions
    .venv-bench/bin/python Tests/bench/kserve_xgb.py --train DIR [--rows 4]
    # serve it alone on KServe (make bench serves it from kserve_echo.py --xgb_model_dir DIR/model, beside the echo
    # model, so that one KServe server answers every workload as one kserve-master does)
    .venv-bench/bin/python Tests/bench/kserve_xgb.py --model_dir DIR/model --http_port 8080 --workers 2 \
        [--model_name xgb] [--nthread 1]

--train writes:
  DIR/model/model.json  binary:logistic, 200 trees of depth 6 on 30 features, trained on 10,000 synthetic rows
                        (fixed seed, 1 thread: the same model on every run); about 1.1 MB, trained in ~2 s.
  DIR/request.json      the v1 body of the benchmark: {"instances": [[30 numbers], ...]} (--rows rows, fixed seed,
                        4 decimals as a client would send them).
  DIR/expected.json     {"predictions": [...]}: Booster.predict on that request in this process (float32 values).

XGBoostModel below is xgbserver's model (kserve/python/xgbserver/xgbserver/model.py) with its load and predict path:
Booster(params={"nthread": nthread}, model_file=...) from the one *.bst/*.json/*.ubj file of the folder, then per
request get_predict_input -> DMatrix(instances, nthread) -> Booster.predict -> get_predict_response (numpy
.tolist()). nthread defaults to 1, xgbserver's default. Nothing else is tuned away from KServe's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import xgboost as xgb
from kserve import Model
from kserve.errors import InferenceError
from kserve.protocol.infer_type import InferRequest, InferResponse
from kserve.utils.utils import get_predict_input, get_predict_response

BOOSTER_FILE_EXTENSIONS = (".bst", ".json", ".ubj")

TREES, DEPTH, FEATURES, TRAIN_ROWS, SEED = 200, 6, 30, 10_000, 8


def train(out: Path, rows: int) -> None:
    (out / "model").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES))
    y = ((x[:, :5].sum(1) + 0.5 * x[:, 5] * x[:, 6] + rng.normal(scale=0.5, size=TRAIN_ROWS)) > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.1, "nthread": 1, "seed": 0},
                        xgb.DMatrix(x, label=y), TREES)
    booster.save_model(str(out / "model" / "model.json"))
    instances = np.round(rng.normal(size=(rows, FEATURES)), 4).tolist()
    (out / "request.json").write_text(json.dumps({"instances": instances}, separators=(",", ":")))
    served = xgb.Booster(params={"nthread": 1}, model_file=str(out / "model" / "model.json"))  # as served
    pred = served.predict(xgb.DMatrix(np.array(instances), nthread=1))
    (out / "expected.json").write_text(json.dumps({"predictions": pred.tolist(), "xgboost": xgb.__version__}))


def model_file(model_dir: str) -> str:
    """The one model file of the folder, as xgbserver finds it (or the file itself)."""
    if os.path.isfile(model_dir):
        return model_dir
    files = [os.path.join(model_dir, f) for f in sorted(os.listdir(model_dir))
             if os.path.isfile(os.path.join(model_dir, f)) and f.endswith(BOOSTER_FILE_EXTENSIONS)]
    if len(files) != 1:
        raise RuntimeError(f"expected exactly one model file ({', '.join(BOOSTER_FILE_EXTENSIONS)}) in {model_dir}, "
                           f"found {files}")
    return files[0]


class XGBoostModel(Model):
    """xgbserver's XGBoostModel: the same load and predict path."""

    def __init__(self, name: str, model_dir: str, nthread: int = 1):
        super().__init__(name)
        self.name = name
        self.model_dir = model_dir
        self.nthread = nthread

    def load(self) -> bool:
        self._booster = xgb.Booster(params={"nthread": self.nthread}, model_file=model_file(self.model_dir))
        self.ready = True
        return self.ready

    def predict(self, payload: Union[Dict, InferRequest],
                headers: Optional[Dict[str, str]] = None) -> Union[Dict, InferResponse]:
        try:
            instances = get_predict_input(payload)
            dmatrix = xgb.DMatrix(instances, nthread=self.nthread)
            result = self._booster.predict(dmatrix)
            return get_predict_response(payload, result, self.name)
        except Exception as e:
            raise InferenceError(str(e))


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--train", type=Path)
    pre.add_argument("--rows", type=int, default=4)
    known, _ = pre.parse_known_args()
    if known.train:
        train(known.train, known.rows)
    else:
        from kserve import ModelServer, model_server

        parser = argparse.ArgumentParser(parents=[model_server.parser])
        parser.add_argument("--model_dir", required=True, help="the model file, or a folder holding exactly one")
        parser.add_argument("--nthread", type=int, default=1, help="xgboost threads (xgbserver's default: 1)")
        args, _ = parser.parse_known_args()
        name = args.model_name if args.model_name != "model" else "xgb"
        model = XGBoostModel(name, args.model_dir, args.nthread)
        model.load()
        ModelServer().start([model])
