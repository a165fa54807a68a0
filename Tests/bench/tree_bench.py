#!/usr/bin/env python3
"""Tree runtime benchmark, Python side: trains the benchmark models, times xgboost / lightgbm, writes the results.

    /tmp/venv-trees/bin/python Tests/bench/tree_bench.py --out /tmp/tree-bench
    .build/release/kserve-tree-bench --dir /tmp/tree-bench        # prints the side-by-side table

Models (as in the runtime notes): binary classifiers on 30 features, XGBoost depth 6 and LightGBM 31 leaves, with
100 and 500 trees. Timings are thread CPU time in one thread (nthread=1), the best of 5 rounds of medians: model load, a single-row
predict (the KServe path: DMatrix for XGBoost, ndarray for LightGBM, plus XGBoost's inplace_predict; 10 calls per
clock read, cycling through 1,000 different rows as the Swift side does), and a 1,000-row predict.
"""
import argparse
import itertools
import json
import os
import time

import numpy as np
import lightgbm as lgb
import xgboost as xgb


def median_time(fn, reps, block=1, rounds=5):
    """Seconds per call: per round, the median over `reps` samples of `block` calls each (one clock read per block:
    the thread CPU clock costs about a microsecond here); the best round wins (this machine has slow phases, and
    the Swift side measures the same way, so both sides get their quiet phase)."""
    best = float("inf")
    for _ in range(rounds):
        times = []
        for _ in range(reps):
            t0 = time.thread_time()
            for _ in range(block):
                fn()
            times.append((time.thread_time() - t0) / block)
        best = min(best, float(np.median(times)))
    return best


def train(out):
    """Trains and saves the four models; writes rows.f64 and bench.json."""
    rng = np.random.default_rng(0)
    n, f = 20000, 30
    x = rng.normal(size=(n, f))
    y = ((x[:, :5].sum(1) + 0.5 * x[:, 5] * x[:, 6] + rng.normal(scale=0.5, size=n)) > 0).astype(float)
    rows = rng.normal(size=(1000, f))
    rows.astype("<f8").tofile(os.path.join(out, "rows.f64"))
    models = []
    for trees in (100, 500):
        name = f"xgb{trees}"
        xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 1},
                  xgb.DMatrix(x, label=y), trees).save_model(os.path.join(out, name + ".json"))
        models.append(dict(name=name, kind="xgboost", file=name + ".json", features=f))
        name = f"lgb{trees}"
        lgb.train({"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "num_threads": 1, "verbose": -1},
                  lgb.Dataset(x, label=y), trees).save_model(os.path.join(out, name + ".txt"))
        models.append(dict(name=name, kind="lightgbm", file=name + ".txt", features=f))
    with open(os.path.join(out, "bench.json"), "w") as fh:
        json.dump(dict(models=models, rows="rows.f64", row_count=1000, xgboost=xgb.__version__,
                       lightgbm=lgb.__version__), fh, indent=1)


def time_models(out, reps):
    """Times every model of bench.json; returns {model: {key: value}}."""
    with open(os.path.join(out, "bench.json")) as fh:
        manifest = json.load(fh)
    rows = np.fromfile(os.path.join(out, "rows.f64"), dtype="<f8").reshape(manifest["row_count"], -1)
    # Single rows cycle through the 1,000 rows, as on the Swift side: one row repeated would let the libraries'
    # branchy tree walks learn its path.
    ones = itertools.cycle([rows[i:i + 1] for i in range(len(rows))])
    results = {}
    for m in manifest["models"]:
        name, path = m["name"], os.path.join(out, m["file"])
        if m["kind"] == "xgboost":
            load = median_time(lambda: xgb.Booster(params={"nthread": 1}, model_file=path), 5, rounds=2)
            bst = xgb.Booster(params={"nthread": 1}, model_file=path)
            single = median_time(lambda: bst.predict(xgb.DMatrix(next(ones), nthread=1)), reps, block=10)
            single_native = median_time(lambda: bst.inplace_predict(next(ones)), reps, block=10)
            batch = median_time(lambda: bst.predict(xgb.DMatrix(rows, nthread=1)), 10)
            batch_native = median_time(lambda: bst.inplace_predict(rows), 10)
        else:
            load = median_time(lambda: lgb.Booster(model_file=path), 5, rounds=2)
            gb = lgb.Booster(model_file=path)
            single = single_native = median_time(lambda: gb.predict(next(ones), num_threads=1), reps, block=10)
            batch = batch_native = median_time(lambda: gb.predict(rows, num_threads=1), 10)
        results[name] = dict(load_ms=load * 1e3, single_us=single * 1e6, single_native_us=single_native * 1e6,
                             batch_us=batch * 1e6, batch_native_us=batch_native * 1e6, size_bytes=os.path.getsize(path))
        print(name, {k: round(v, 1) for k, v in results[name].items()})
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/tree-bench")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--time-only", action="store_true",
                    help="time the models already in --out again and keep, per figure, the best of this run and "
                         "python.json (make bench-trees alternates the two sides this way)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if not args.time_only:
        train(args.out)
    results = time_models(args.out, args.reps)
    path = os.path.join(args.out, "python.json")
    if args.time_only and os.path.exists(path):
        with open(path) as fh:
            previous = json.load(fh)
        for name, figures in results.items():
            for key, value in previous.get(name, {}).items():
                figures[key] = min(figures.get(key, value), value)
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
