"""The reference fixture's production replay, offline (issue 25): its
analysis and model as main.py builds them, then the sealed stream's days
through its lifecycle logic in-process (served, feedback, monitor), each
day's answer printed beside what the key planted, and the recovery figure.
For tuning the fixture without Docker; the graded figures are the e2e
test's (tests/e2e/lifecycle.rs).
usage: python3 scripts/replay_sim.py VARIANT_DIR  (a variant of an
exercise with [lifecycle], from `grader variant`)"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures", "submissions", "reference", "app"))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from analysis import find_drift_and_prior, find_leakage, serving_fix
from data import load
from model import Model
from lifecycle import Lifecycle
from sklearn.metrics import roc_auc_score

d = sys.argv[1]
schema, train, production = load(d + "/public")
leakage, excluded, clean = find_leakage(schema, train, production)
trusted = [f for f in schema.feature_names if f not in excluded]
drift, _, _, monitor = find_drift_and_prior(Model, schema, clean, production, trusted)
fixes = {f: fix for f in trusted if (fix := serving_fix(schema, f, clean, production))}
model = Model(schema, features=trusted, fixes=fixes).fit(clean)
drifting = {x["feature"] for x in drift}
lc = Lifecycle(schema, model, clean, [f for f in trusted if f not in drifting])
key = json.load(open(d + "/sealed/answer_key.json"))["lifecycle"]
stream = pd.read_parquet(d + "/sealed/stream.parquet")
cols = [c for c in stream.columns if c not in ("day", "feedback_day", schema.label, "true_probability")]
print("monitored", lc.monitored)
for e in key["events"]:
    print(e["kind"], e["day"], e["last_day"], e["feature"], e["change"])
lc.monitor()
served = np.full(len(stream), np.nan)
for day in range(1, key["days"] + 1):
    idx = np.where(stream["day"].to_numpy() == day)[0]
    part = stream.iloc[idx]
    rows = json.loads(part[cols].to_json(orient="records"))
    frame = pd.DataFrame(rows, columns=schema.feature_names)
    for name in schema.feature_names:
        frame[name] = pd.to_numeric(frame[name], errors="coerce") if schema.is_numeric(name) else frame[name].astype(object)
    _, p = model.predict(frame)
    served[idx] = lc.served(rows, p)
    due = stream[stream["feedback_day"] == day]
    if len(due):
        lc.feedback({"labels": [{schema.id_column: int(i), schema.label: int(y)} for i, y in zip(due[schema.id_column], due[schema.label])]}, 100000)
    m = lc.monitor()
    tag = "quiet" if day in key["quiet_days"] else ""
    print(day, tag, m)
c = [e for e in key["events"] if e["kind"] == "concept_drift"][0]
b = [e for e in key["events"] if e["kind"] == "pipeline_break"][0]
mask = (stream["day"] > c["last_day"]) & ~stream["day"].between(b["day"], b["last_day"])
auc = roc_auc_score(stream[schema.label][mask], served[mask.to_numpy()])
st, nw = c["certificate"]["stale_auc"], c["certificate"]["new_auc"]
print(f"recovery: served {auc:.3f} stale {st:.3f} new {nw:.3f} credit {(auc-st)/(nw-st):.2f}")
