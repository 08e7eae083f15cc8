"""Served AUC of a careless and a careful model across seeds (issue 24's
parity audit), offline: no container, the variant's own files.

careless: HistGradientBoosting on every public column, as train.csv gives
it (the `naive` fixture's model). careful: the planted leak columns and the
id left out, exact duplicates dropped, production's customers (contamination)
removed, the serving encodings left as they come. Both are scored on the
sealed holdout as served, against its labels.

usage: parity_audit.py VARIANT_DIR...   (prints one JSON line per variant,
then a summary line)
"""
import json
import os
import statistics
import sys

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score


def served_auc(train, label, holdout, labels, features, categorical):
    codes = {c: {v: i for i, v in enumerate(sorted(train[c].dropna().astype(str).unique()))} for c in categorical}

    def frame(df):
        x = df[features].copy()
        for c in categorical:
            x[c] = x[c].astype("string").map(codes[c]).astype(float)
        return x

    model = HistGradientBoostingClassifier(random_state=0).fit(frame(train), train[label])
    return roc_auc_score(labels, model.predict_proba(frame(holdout))[:, 1])


def audit(d):
    key = json.load(open(os.path.join(d, "sealed", "answer_key.json")))
    schema = json.load(open(os.path.join(d, "public", "schema.json")))
    label = schema["label"]
    categorical = [c["name"] for c in schema["features"] if c["type"] == "string"]
    columns = [c["name"] for c in schema["features"]]
    train = pd.read_csv(os.path.join(d, "public", "train.csv"), keep_default_na=False, na_values=[""])
    production = pd.read_csv(os.path.join(d, "public", "production.csv"), keep_default_na=False, na_values=[""])
    holdout = pd.read_parquet(os.path.join(d, "sealed", "holdout_serving.parquet"))
    truth = pd.read_parquet(os.path.join(d, "sealed", "holdout_truth.parquet"))
    labels = truth[label].astype(int).values
    careless = served_auc(train, label, holdout, labels, columns, categorical)
    leaks = {l["feature"] for l in key["leakage"] if l.get("feature")}
    keep = [c for c in columns if c not in leaks and c != key["id_column"]]
    clean = train[~train[key["id_column"]].isin(set(production[key["id_column"]]))].drop_duplicates()
    careful = served_auc(clean, label, holdout, labels, keep, [c for c in categorical if c in keep])
    kinds = sorted([l["kind"] for l in key["leakage"]] + [x["kind"] for x in key["drift"]])
    return {"seed": key["seed"]["value"], "kinds": kinds, "careless": round(careless, 4), "careful": round(careful, 4),
            "bayes": round(key["bayes"]["holdout_auc"], 4)}


rows = [audit(d) for d in sys.argv[1:]]
for r in rows:
    print(json.dumps(r))
for who in ("careless", "careful"):
    xs = [r[who] for r in rows]
    print(json.dumps({who: {"n": len(xs), "mean": round(statistics.mean(xs), 4), "sd": round(statistics.stdev(xs), 4),
                            "min": min(xs), "max": max(xs)}}))
