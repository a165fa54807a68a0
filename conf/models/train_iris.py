#!/usr/bin/env python3
"""Trains the small iris classifiers the default config serves (conf/kserve.conf):

    models/iris-xgboost/model.json   XGBoost multi:softprob, 3 classes, 10 rounds of depth-3 trees
    models/iris-lightgbm/model.txt   LightGBM multiclass, 3 classes, 10 rounds of 4-leaf trees

Both take 4 features (sepal length, sepal width, petal length, petal width, in cm) and return the 3 class
probabilities (setosa, versicolor, virginica). Re-run in a venv with the fixture libraries:

    /tmp/venv-trees/bin/python conf/models/train_iris.py
"""
import os

import lightgbm as lgb
import xgboost as xgb
from sklearn.datasets import load_iris

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

x, y = load_iris(return_X_y=True)
os.makedirs(os.path.join(HERE, "iris-xgboost"), exist_ok=True)
os.makedirs(os.path.join(HERE, "iris-lightgbm"), exist_ok=True)
booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3, "nthread": 1,
                     "seed": 1}, xgb.DMatrix(x, label=y, feature_names=NAMES), 10)
booster.save_model(os.path.join(HERE, "iris-xgboost", "model.json"))
gbm = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 4, "learning_rate": 0.3, "verbose": -1,
                 "num_threads": 1, "seed": 1, "deterministic": True}, lgb.Dataset(x, label=y, feature_name=NAMES), 10)
gbm.save_model(os.path.join(HERE, "iris-lightgbm", "model.txt"))
print(booster.predict(xgb.DMatrix(x[:1], feature_names=NAMES)), gbm.predict(x[:1]))
