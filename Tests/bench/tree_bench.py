#!/usr/bin/env python3
"""Tree runtime benchmark, Python side: trains the benchmark models, times xgboost / lightgbm, writes the results.

    /tmp/venv-trees/bin/python Tests/bench/tree_bench.py --out /tmp/tree-bench
    .build/release/kserve-tree-bench --dir /tmp/tree-bench        # prints the side-by-side table

Models (as in the runtime notes): binary classifiers on 30 features, XGBoost depth 6 and LightGBM 31 leaves, with
100 and 500 trees. Timings are thread CPU time in one thread (nthread=1), the best of 5 rounds of medians: model load, a single-row
predict (the KServe path: DMatrix for XGBoost, ndarray for LightGBM, plus XGBoost's inplace_predict; 10 calls per
clock read), and a 1,000-row predict.
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/tree-bench")
    ap.add_argument("--reps", type=int, default=40)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    n, f = 20000, 30
    x = rng.normal(size=(n, f))
    y = ((x[:, :5].sum(1) + 0.5 * x[:, 5] * x[:, 6] + rng.normal(scale=0.5, size=n)) > 0).astype(float)
    rows = rng.normal(size=(1000, f))
    rows.astype("<f8").tofile(os.path.join(args.out, "rows.f64"))

    models, results = [], {}
    for trees in (100, 500):
        name = f"xgb{trees}"
        path = os.path.join(args.out, name + ".json")
        b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "nthread": 1},
                      xgb.DMatrix(x, label=y), trees)
        b.save_model(path)
        models.append(dict(name=name, kind="xgboost", file=name + ".json", features=f))
        load = median_time(lambda: xgb.Booster(params={"nthread": 1}, model_file=path), 5, rounds=2)
        bst = xgb.Booster(params={"nthread": 1}, model_file=path)
        one = rows[:1]
        single = median_time(lambda: bst.predict(xgb.DMatrix(one, nthread=1)), args.reps, block=10)
        single_inplace = median_time(lambda: bst.inplace_predict(one), args.reps, block=10)
        batch = median_time(lambda: bst.predict(xgb.DMatrix(rows, nthread=1)), 10)
        batch_inplace = median_time(lambda: bst.inplace_predict(rows), 10)
        results[name] = dict(load_ms=load * 1e3, single_us=single * 1e6, single_native_us=single_inplace * 1e6,
                             batch_us=batch * 1e6, batch_native_us=batch_inplace * 1e6,
                             size_bytes=os.path.getsize(path))
        print(name, results[name])

        name = f"lgb{trees}"
        path = os.path.join(args.out, name + ".txt")
        g = lgb.train({"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "num_threads": 1,
                       "verbose": -1}, lgb.Dataset(x, label=y), trees)
        g.save_model(path)
        models.append(dict(name=name, kind="lightgbm", file=name + ".txt", features=f))
        load = median_time(lambda: lgb.Booster(model_file=path), 5, rounds=2)
        gb = lgb.Booster(model_file=path)
        single = median_time(lambda: gb.predict(one, num_threads=1), args.reps, block=10)
        batch = median_time(lambda: gb.predict(rows, num_threads=1), 10)
        results[name] = dict(load_ms=load * 1e3, single_us=single * 1e6, single_native_us=single * 1e6,
                             batch_us=batch * 1e6, batch_native_us=batch * 1e6, size_bytes=os.path.getsize(path))
        print(name, results[name])

    with open(os.path.join(args.out, "bench.json"), "w") as fh:
        json.dump(dict(models=models, rows="rows.f64", row_count=1000, xgboost=xgb.__version__,
                       lightgbm=lgb.__version__), fh, indent=1)
    with open(os.path.join(args.out, "python.json"), "w") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
