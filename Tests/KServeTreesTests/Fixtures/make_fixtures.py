#!/usr/bin/env python3
"""Trains the tree-runtime fixture models and writes their inputs and the libraries' exact outputs.

Run in a venv with the pinned libraries (see README.md in this folder):

    python3 -m venv /tmp/venv-trees
    /tmp/venv-trees/bin/pip install xgboost-cpu==3.2.0 lightgbm==4.7.0 scikit-learn==1.9.1 numpy pandas
    /tmp/venv-trees/bin/python make_fixtures.py [--xgb2-python /tmp/venv-xgb2/bin/python]

Every case gets a folder with the saved model, `X.f64` (the input rows: row-major little-endian float64, exactly as
handed to the library's predict) and one `<variant>.f32|.f64` file per expected output (little-endian float32 for
XGBoost, float64 for LightGBM), listed in `manifest.json`. The Swift tests compare bit for bit, without Python.

Inputs are training rows plus stress rows built from each model's own split thresholds: the threshold itself, its
float32 and float64 neighbours (nextafter), its shortest decimal, NaN, zero, -0, tiny values (|x| <= 1e-35),
negative and out-of-range categories, and large values.
`--xgb2-python` names a Python with xgboost 2.1.x: it saves a few models in the 2.x format (scalar base_score) that
xgboost 3.2 then predicts on.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import lightgbm as lgb
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

HERE = os.path.dirname(os.path.abspath(__file__))
RNG = np.random.default_rng(20240607)
MANIFEST = []


def datasets():
    iris_x, iris_y = load_iris(return_X_y=True)
    bc_x, bc_y = load_breast_cancer(return_X_y=True)
    db_x, db_y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(7)
    db_nan = db_x.copy()
    db_nan[rng.random(db_nan.shape) < 0.15] = np.nan
    n = 600
    cat_x = np.column_stack([
        rng.integers(0, 12, n).astype(float),       # categorical, 12 levels
        rng.normal(size=n),
        rng.integers(0, 5, n).astype(float),        # categorical, 5 levels
        rng.uniform(-2, 2, n),
    ])
    cat_x[rng.random(n) < 0.08, 0] = np.nan
    cat_x[rng.random(n) < 0.05, 3] = np.nan
    cat_y = (np.isin(cat_x[:, 0], [1, 4, 7, 9]) * 1.5 + np.where(cat_x[:, 2] == 3, -1.0, 0.5)
             + np.nan_to_num(cat_x[:, 3]) + rng.normal(scale=0.3, size=n))
    return dict(iris=(iris_x, iris_y), bc=(bc_x, bc_y), db=(db_x, db_y), dbnan=(db_nan, db_y), cat=(cat_x, cat_y))


# ---------------------------------------------------------------------------------------------------------------
# Stress rows from thresholds

def stress_rows(base, thresholds, categorical=(), count=80, f32=True):
    """Rows that put features exactly on, just beside, and around the model's split thresholds."""
    n_feat = base.shape[1]
    rows = []
    for i in range(count):
        row = base[RNG.integers(0, len(base))].copy()
        for f in range(n_feat):
            r = RNG.random()
            ts = thresholds.get(f)
            if f in categorical:
                if r < 0.15:
                    row[f] = RNG.choice([-1.0, -0.5, 0.5, 1.5, 99.0, 16777216.0, 1e10, 2.0**31, -3e9, np.nan])
                continue
            if ts and r < 0.6:
                t = float(RNG.choice(ts))
                kind = RNG.integers(0, 7)
                if kind == 0:
                    row[f] = t
                elif kind == 1:
                    row[f] = float(np.nextafter(np.float32(t), np.float32(np.inf))) if f32 else np.nextafter(t, np.inf)
                elif kind == 2:
                    row[f] = float(np.nextafter(np.float32(t), np.float32(-np.inf))) if f32 else np.nextafter(t, -np.inf)
                elif kind == 3:
                    row[f] = float(str(np.float32(t)))       # shortest float32 decimal, parsed as a double
                elif kind == 4:
                    row[f] = np.nextafter(t, np.inf)
                elif kind == 5:
                    row[f] = np.nextafter(t, -np.inf)
                else:
                    row[f] = float(np.float32(t))
            elif r < 0.68:
                row[f] = np.nan
            elif r < 0.72:
                row[f] = 0.0
            elif r < 0.74:
                row[f] = -0.0
            elif r < 0.76:
                row[f] = RNG.choice([1e-36, -1e-36, 1e-35, 1.0000000180025095e-35, 1e-40, 5e-324])
            elif r < 0.78:
                row[f] = RNG.choice([1e30, -1e30, 3e38, -3e38])
        rows.append(row)
    rows.append(np.full(n_feat, np.nan))
    rows.append(np.zeros(n_feat))
    return np.array(rows)


def xgb_thresholds(booster):
    d = json.loads(booster.save_raw("json"))
    gb = d["learner"]["gradient_booster"]
    model = gb["gbtree"]["model"] if "gbtree" in gb else gb["model"]
    out, cats = {}, set()
    for t in model["trees"]:
        for n, (l, f, c, st) in enumerate(zip(t["left_children"], t["split_indices"], t["split_conditions"],
                                              t["split_type"])):
            if l == -1:
                continue
            if st == 1:
                cats.add(f)
            else:
                out.setdefault(f, []).append(c)
    return out, cats


def lgb_thresholds(booster):
    d = booster.dump_model()
    out, cats = {}, set()

    def walk(node):
        if "split_feature" not in node:
            return
        f = node["split_feature"]
        if node["decision_type"] == "==":
            cats.add(f)
        else:
            out.setdefault(f, []).append(float(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])
    for t in d["tree_info"]:
        walk(t["tree_structure"])
    return out, cats


def inputs_for(x_train, thresholds, cats, f32, n_train=40, n_stress=80):
    idx = RNG.choice(len(x_train), size=min(n_train, len(x_train)), replace=False)
    return np.vstack([x_train[idx], stress_rows(x_train, thresholds, cats, n_stress, f32)])


# ---------------------------------------------------------------------------------------------------------------
# Writers

def case_dir(name):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write_array(path, arr, dtype):
    a = np.ascontiguousarray(np.asarray(arr, dtype=dtype))
    a.astype(a.dtype.newbyteorder("<")).tofile(path)


def add_case(name, kind, model_file, x, outputs, note, extra=None):
    d = os.path.join(HERE, name)
    write_array(os.path.join(d, "X.f64"), x, np.float64)
    entry = dict(name=name, kind=kind, model=model_file, rows=int(x.shape[0]), cols=int(x.shape[1]),
                 note=note, outputs=[])
    ext = "f32" if kind == "xgboost" else "f64"
    for variant, params, result in outputs:
        arr = np.asarray(result)
        fname = f"{variant}.{ext}"
        write_array(os.path.join(d, fname), arr, np.float32 if ext == "f32" else np.float64)
        entry["outputs"].append(dict(variant=variant, params=params, file=fname, shape=list(arr.shape)))
    if extra:
        entry.update(extra)
    MANIFEST.append(entry)


# ---------------------------------------------------------------------------------------------------------------
# XGBoost

def xgb_case(name, params, x, y, rounds, fmt="json", note="", ranges=(), dtrain_kw=None, x_eval=None, group=None,
             label_lower=None, label_upper=None, cat_features=()):
    d = case_dir(name)
    dtrain_kw = dtrain_kw or {}
    dm = xgb.DMatrix(x, label=y, **dtrain_kw)
    if group is not None:
        dm.set_group(group)
    if label_lower is not None:
        dm.set_float_info("label_lower_bound", label_lower)
        dm.set_float_info("label_upper_bound", label_upper)
    p = dict(params)
    p.setdefault("nthread", 1)
    p.setdefault("seed", 1)
    booster = xgb.train(p, dm, rounds)
    fname = "model." + fmt
    booster.save_model(os.path.join(d, fname))
    return finish_xgb(name, d, fname, booster, x if x_eval is None else x_eval, note, ranges, dtrain_kw, cat_features)


def finish_xgb(name, d, fname, booster, x_src, note, ranges, dtrain_kw, cat_features=()):
    loaded = xgb.Booster(model_file=os.path.join(d, fname))   # predict with the saved file, as xgbserver does
    th, cats = xgb_thresholds(loaded)
    cats = set(cats) | set(cat_features)
    x = inputs_for(x_src, th, cats, f32=True)
    ft = dtrain_kw.get("feature_types")
    dm = xgb.DMatrix(x, missing=np.nan, feature_types=ft, enable_categorical=bool(ft))
    outs = [("predict", {}, loaded.predict(dm)),
            ("margin", {"output_margin": True}, loaded.predict(dm, output_margin=True))]
    for b, e in ranges:
        outs.append((f"range_{b}_{e}", {"iteration_range": [b, e]}, loaded.predict(dm, iteration_range=(b, e))))
        outs.append((f"range_{b}_{e}_margin", {"iteration_range": [b, e], "output_margin": True},
                     loaded.predict(dm, iteration_range=(b, e), output_margin=True)))
    add_case(name, "xgboost", fname, x, outs, note)


def make_xgb(ds, xgb2_python):
    iris_x, iris_y = ds["iris"]
    bc_x, bc_y = ds["bc"]
    db_x, db_y = ds["db"]
    dbn_x, _ = ds["dbnan"]
    cat_x, cat_y = ds["cat"]
    bc_small = {"max_depth": 4, "eta": 0.3}
    xgb_case("xgb_binary_logistic", {"objective": "binary:logistic", **bc_small}, bc_x, bc_y, 20,
             note="breast cancer, 20 trees", ranges=[(0, 5), (3, 10)])
    xgb_case("xgb_binary_logistic_ubj", {"objective": "binary:logistic", "max_depth": 3}, bc_x, bc_y, 10, fmt="ubj",
             note="UBJ format")
    xgb_case("xgb_binary_logitraw", {"objective": "binary:logitraw", "max_depth": 3}, bc_x, bc_y, 10)
    xgb_case("xgb_binary_hinge", {"objective": "binary:hinge", "max_depth": 3}, bc_x, bc_y, 10)
    xgb_case("xgb_reg_squarederror_nan", {"objective": "reg:squarederror", "max_depth": 5}, dbn_x, db_y, 30,
             note="diabetes with 15% NaN", ranges=[(10, 20)])
    xgb_case("xgb_reg_squaredlogerror", {"objective": "reg:squaredlogerror", "max_depth": 3}, dbn_x, db_y, 10)
    xgb_case("xgb_reg_logistic", {"objective": "reg:logistic", "max_depth": 3}, dbn_x, (db_y - 25) / 330, 10)
    xgb_case("xgb_reg_pseudohuber", {"objective": "reg:pseudohubererror", "max_depth": 3}, db_x, db_y / 100, 10)
    xgb_case("xgb_reg_absoluteerror", {"objective": "reg:absoluteerror", "max_depth": 3}, dbn_x, db_y, 10)
    xgb_case("xgb_reg_quantile", {"objective": "reg:quantileerror", "quantile_alpha": [0.1, 0.5, 0.9],
                                  "max_depth": 3}, dbn_x, db_y, 8, note="three quantiles -> 3 targets")
    xgb_case("xgb_reg_gamma", {"objective": "reg:gamma", "max_depth": 3}, dbn_x, db_y, 10)
    xgb_case("xgb_reg_tweedie", {"objective": "reg:tweedie", "max_depth": 3}, dbn_x, db_y, 10)
    xgb_case("xgb_count_poisson", {"objective": "count:poisson", "max_depth": 3}, dbn_x, np.round(db_y / 10), 10)
    xgb_case("xgb_survival_cox", {"objective": "survival:cox", "max_depth": 3}, db_x,
             np.where(np.arange(len(db_y)) % 4 == 0, -db_y, db_y), 10)
    xgb_case("xgb_survival_aft", {"objective": "survival:aft", "max_depth": 3, "aft_loss_distribution": "normal"},
             db_x, None, 10, label_lower=db_y, label_upper=np.where(np.arange(len(db_y)) % 3 == 0, np.inf, db_y))
    xgb_case("xgb_multi_softprob", {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, iris_x, iris_y,
             10, ranges=[(2, 6)])
    xgb_case("xgb_multi_softmax", {"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, iris_x, iris_y, 10)
    unb = iris_y.copy()
    keep = (unb != 2) | (np.arange(len(unb)) % 10 == 0)
    xgb_case("xgb_multi_unbalanced", {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
             iris_x[keep], unb[keep], 6, note="few samples of class 2")
    grp = [10] * (len(db_y) // 10)
    xgb_case("xgb_rank_ndcg", {"objective": "rank:ndcg", "max_depth": 3}, db_x[:sum(grp)],
             np.minimum(db_y[:sum(grp)] // 70, 4), 8, group=grp)
    xgb_case("xgb_rank_pairwise", {"objective": "rank:pairwise", "max_depth": 3}, db_x[:sum(grp)],
             np.minimum(db_y[:sum(grp)] // 70, 4), 8, group=grp)
    xgb_case("xgb_dart", {"booster": "dart", "objective": "binary:logistic", "max_depth": 3, "rate_drop": 0.3,
                          "skip_drop": 0.0}, bc_x, bc_y, 12, ranges=[(0, 4)])
    xgb_case("xgb_random_forest", {"objective": "binary:logistic", "max_depth": 4, "num_parallel_tree": 4,
                                   "subsample": 0.8, "colsample_bynode": 0.8, "eta": 1.0}, bc_x, bc_y, 3,
             ranges=[(1, 2)])
    xgb_case("xgb_stumps", {"objective": "reg:squarederror", "max_depth": 1}, dbn_x, db_y, 10,
             note="depth-1 trees")
    xgb_case("xgb_leaf_only", {"objective": "reg:squarederror", "min_child_weight": 1e9}, db_x, db_y, 3,
             note="single-leaf trees")
    ft = ["c", "q", "c", "q"]
    xgb_case("xgb_categorical_partition", {"objective": "reg:squarederror", "max_depth": 4, "max_cat_to_onehot": 1,
                                           "tree_method": "hist"}, cat_x, cat_y, 12,
             dtrain_kw={"feature_types": ft, "enable_categorical": True}, cat_features=(0, 2),
             note="categorical partition splits, NaN/unseen/negative categories")
    xgb_case("xgb_categorical_onehot", {"objective": "reg:squarederror", "max_depth": 4, "max_cat_to_onehot": 64,
                                        "tree_method": "hist"}, cat_x, cat_y, 8,
             dtrain_kw={"feature_types": ft, "enable_categorical": True}, cat_features=(0, 2))
    y2 = np.column_stack([db_y, db_y / 10 + db_x[:, 0] * 50])
    xgb_case("xgb_multi_target", {"objective": "reg:squarederror", "max_depth": 3, "tree_method": "hist"},
             dbn_x, y2, 6, note="two targets, one tree per target")
    xgb_case("xgb_vector_leaf", {"objective": "reg:squarederror", "max_depth": 3, "tree_method": "hist",
                                 "multi_strategy": "multi_output_tree"}, dbn_x, y2, 5,
             note="multi_output_tree (vector leaves, 3.2 layout)")
    xgb_case("xgb_large_binary", {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1}, bc_x, bc_y, 60,
             note="deeper trees")
    if xgb2_python:
        make_xgb2(xgb2_python, ds)


XGB2_SCRIPT = r"""
import sys, numpy as np, xgboost as xgb
out = sys.argv[1]
d = np.load(out + "/data.npz")
specs = [
  ("xgb2_binary_logistic", {"objective": "binary:logistic", "max_depth": 3}, "bc", 8),
  ("xgb2_multi_softprob", {"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, "iris", 6),
  ("xgb2_reg_gamma", {"objective": "reg:gamma", "max_depth": 3}, "db", 6),
  ("xgb2_binary_logitraw", {"objective": "binary:logitraw", "max_depth": 3}, "bc", 6),
]
for name, p, data, rounds in specs:
    p = dict(p, nthread=1, seed=1)
    b = xgb.train(p, xgb.DMatrix(d[data + "_x"], label=d[data + "_y"]), rounds)
    b.save_model(out + "/" + name + ".json")
print(xgb.__version__)
"""


def make_xgb2(python, ds):
    tmp = os.path.join(HERE, "_xgb2_tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    np.savez(os.path.join(tmp, "data.npz"), bc_x=ds["bc"][0], bc_y=ds["bc"][1], iris_x=ds["iris"][0],
             iris_y=ds["iris"][1], db_x=ds["dbnan"][0], db_y=ds["db"][1])
    version = subprocess.run([python, "-c", XGB2_SCRIPT, tmp], check=True, capture_output=True, text=True).stdout
    print("xgboost 2.x:", version.strip())
    src = {"xgb2_binary_logistic": "bc", "xgb2_multi_softprob": "iris", "xgb2_reg_gamma": "dbnan",
           "xgb2_binary_logitraw": "bc"}
    for name, data in src.items():
        d = case_dir(name)
        shutil.copy(os.path.join(tmp, name + ".json"), os.path.join(d, "model.json"))
        finish_xgb(name, d, "model.json", None, ds[data][0], f"saved by xgboost {version.strip()}", [], {})
    shutil.rmtree(tmp)


# ---------------------------------------------------------------------------------------------------------------
# LightGBM

def lgb_case(name, params, x, y, rounds, note="", cat=None, ranges=(), group=None, x_eval=None):
    d = case_dir(name)
    p = dict(params)
    p.setdefault("verbose", -1)
    p.setdefault("num_threads", 1)
    p.setdefault("seed", 1)
    p.setdefault("deterministic", True)
    ds = lgb.Dataset(x, label=y, categorical_feature=cat if cat is not None else "auto", group=group,
                     params={"verbose": -1})
    booster = lgb.train(p, ds, rounds)
    fname = "model.txt"
    booster.save_model(os.path.join(d, fname))
    loaded = lgb.Booster(model_file=os.path.join(d, fname))
    th, cats = lgb_thresholds(loaded)
    cats |= set(cat or [])
    xs = inputs_for(x if x_eval is None else x_eval, th, cats, f32=False)
    outs = [("predict", {}, loaded.predict(xs)),
            ("raw", {"raw_score": True}, loaded.predict(xs, raw_score=True))]
    for b, n in ranges:
        outs.append((f"iter_{b}_{n}", {"start_iteration": b, "num_iteration": n},
                     loaded.predict(xs, start_iteration=b, num_iteration=n)))
        outs.append((f"iter_{b}_{n}_raw", {"start_iteration": b, "num_iteration": n, "raw_score": True},
                     loaded.predict(xs, start_iteration=b, num_iteration=n, raw_score=True)))
    add_case(name, "lightgbm", fname, xs, outs, note)


def make_lgb(ds):
    iris_x, iris_y = ds["iris"]
    bc_x, bc_y = ds["bc"]
    db_x, db_y = ds["db"]
    dbn_x, _ = ds["dbnan"]
    cat_x, cat_y = ds["cat"]
    small = {"num_leaves": 8, "learning_rate": 0.2, "min_data_in_leaf": 5}
    lgb_case("lgb_binary", {"objective": "binary", **small}, bc_x, bc_y, 15, ranges=[(0, 5), (4, 6)])
    lgb_case("lgb_binary_sigmoid2", {"objective": "binary", "sigmoid": 2.0, **small}, bc_x, bc_y, 8)
    lgb_case("lgb_multiclass", {"objective": "multiclass", "num_class": 3, **small}, iris_x, iris_y, 8,
             ranges=[(2, 3)])
    lgb_case("lgb_multiclassova", {"objective": "multiclassova", "num_class": 3, **small}, iris_x, iris_y, 8)
    lgb_case("lgb_regression_nan", {"objective": "regression", **small}, dbn_x, db_y, 15, note="l2 + 15% NaN")
    lgb_case("lgb_regression_sqrt", {"objective": "regression", "reg_sqrt": True, **small}, dbn_x, db_y, 8)
    lgb_case("lgb_zero_as_missing", {"objective": "regression", "zero_as_missing": True, **small},
             np.where(np.isnan(dbn_x), 0.0, dbn_x), db_y, 8)
    lgb_case("lgb_use_missing_false", {"objective": "regression", "use_missing": False, **small}, dbn_x, db_y, 8)
    lgb_case("lgb_xentropy", {"objective": "cross_entropy", **small}, dbn_x, (db_y - 25) / 330, 8)
    lgb_case("lgb_xentlambda", {"objective": "cross_entropy_lambda", **small}, dbn_x, (db_y - 25) / 330, 8)
    lgb_case("lgb_poisson", {"objective": "poisson", **small}, dbn_x, np.round(db_y / 10), 8)
    lgb_case("lgb_gamma", {"objective": "gamma", **small}, dbn_x, db_y, 8)
    lgb_case("lgb_tweedie", {"objective": "tweedie", **small}, dbn_x, db_y, 8)
    lgb_case("lgb_huber", {"objective": "huber", **small}, dbn_x, db_y, 8)
    lgb_case("lgb_stump", {"objective": "regression", "min_data_in_leaf": 10000}, db_x, db_y, 3,
             note="single-leaf trees")
    lgb_case("lgb_random_forest", {"objective": "binary", "boosting": "rf", "bagging_freq": 1,
                                   "bagging_fraction": 0.7, "feature_fraction": 0.8, "num_leaves": 8},
             bc_x, bc_y, 6, ranges=[(1, 3)])
    lgb_case("lgb_categorical", {"objective": "regression", "num_leaves": 8, "min_data_per_group": 5,
                                 "cat_smooth": 1.0, "max_cat_to_onehot": 4, "min_data_in_leaf": 5},
             cat_x, cat_y, 10, cat=[0, 2], note="categorical splits (bitsets), NaN/unseen/negative categories")
    lgb_case("lgb_linear_tree", {"objective": "regression", "linear_tree": True, **small}, dbn_x, db_y, 6)
    grp = [10] * (len(db_y) // 10)
    lgb_case("lgb_lambdarank", {"objective": "lambdarank", **small}, db_x[:sum(grp)],
             np.minimum(db_y[:sum(grp)] // 70, 4).astype(int), 6, group=grp)
    lgb_case("lgb_large_binary", {"objective": "binary", "num_leaves": 31}, bc_x, bc_y, 40)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xgb2-python", help="a Python with xgboost 2.1.x, for the 2.x-format cases")
    args = ap.parse_args()
    for entry in os.listdir(HERE):
        if os.path.isdir(os.path.join(HERE, entry)) and (entry.startswith("xgb") or entry.startswith("lgb")):
            shutil.rmtree(os.path.join(HERE, entry))
    ds = datasets()
    make_xgb(ds, args.xgb2_python)
    make_lgb(ds)
    meta = dict(generator="make_fixtures.py", xgboost=xgb.__version__, lightgbm=lgb.__version__,
                numpy=np.__version__, python=sys.version.split()[0], cases=MANIFEST)
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(HERE) for f in fs)
    print(f"{len(MANIFEST)} cases, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
