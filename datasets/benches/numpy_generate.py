"""The same generation with numpy + pandas, for the benchmark's ratio.

Reads exercise.toml, draws the splits (train, production, holdout, traffic)
from the same distributions and label model, applies missingness, a mean
shift on production, and writes train/production as CSV + Parquet and the
holdout as Parquet, like `grader variant`. It does NOT certify (no KS,
chi-square or AUC): the Rust side does that on top, so the ratio is
conservative for Rust.

usage: python3 numpy_generate.py EXERCISE_TOML OUT_DIR TRAIN_ROWS EXTRA_NUMERIC
prints the elapsed seconds.
"""
import os
import sys
import time
import tomllib

import numpy as np
import pandas as pd


def draw(rng, f, n):
    d = f["dist"]
    k = d["kind"]
    if k == "normal":
        x = rng.normal(d["mean"], d["sd"], n)
    elif k == "lognormal":
        x = rng.lognormal(d["mu"], d["sigma"], n)
    elif k == "uniform":
        x = rng.uniform(d["low"], d["high"], n)
    elif k == "exponential":
        x = rng.exponential(d["mean"], n)
    elif k == "poisson":
        x = rng.poisson(d["lambda"], n).astype(float)
    else:
        w = np.array(d["weights"], dtype=float)
        return rng.choice(np.array(d["categories"], dtype=object), size=n, p=w / w.sum())
    if "clip" in f:
        x = np.clip(x, *f["clip"])
    return np.round(x, f.get("decimals", 2))


def value(v, rng):
    """A number, or a [low, high] range drawn once (exercise.toml's family)."""
    return rng.uniform(*v) if isinstance(v, list) else v


def split(rng, spec, features, n):
    cols = {"customer_id": rng.permutation(n) * 4 + 100000}
    logit = np.full(n, value(spec["label"]["intercept"], rng))
    for f in features:
        x = draw(rng, f, n)
        if "effect" in f:
            e = f["effect"]
            z = (x - e["center"]) / e["scale"]
            logit += value(e["coef"], rng) * z + value(e.get("quadratic", 0.0), rng) * z * z
        elif "effects" in f:
            effects = {c: value(v, rng) for c, v in f["effects"].items()}
            logit += pd.Series(x).map(effects).fillna(0.0).to_numpy()
        cols[f["name"]] = x
    p = 1 / (1 + np.exp(-logit))
    label = (rng.uniform(size=n) < p).astype(np.int64)
    df = pd.DataFrame(cols)
    for f in features:
        if f.get("missing_rate", 0) > 0:
            df.loc[rng.uniform(size=n) < f["missing_rate"], f["name"]] = None
        if f.get("decimals") == 0 and f["dist"]["kind"] != "categorical":
            df[f["name"]] = df[f["name"]].astype("Int64")
    return df, label


def main():
    spec = tomllib.load(open(sys.argv[1], "rb"))
    out, n_train, extra = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    features = list(spec["features"])
    numeric = [f for f in features if f["dist"]["kind"] != "categorical"]
    for i, f in enumerate(numeric[:extra]):
        g = dict(f, name=f"extra_{i}")
        g.pop("effect", None)
        features.append(g)
    rows = spec["rows"]
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    rng = np.random.default_rng(42)
    train, y = split(rng, spec, features, n_train)
    train[spec["label"]["name"]] = y
    production, _ = split(rng, spec, features, rows["production"])
    holdout, yh = split(rng, spec, features, rows["holdout"])
    holdout[spec["label"]["name"]] = yh
    traffic, _ = split(rng, spec, features, rows["traffic"])
    shifted = numeric[0]["name"]
    sd = train[shifted].std()
    for df in (production, traffic):
        df[shifted] = df[shifted] + 0.5 * sd
    train.to_csv(os.path.join(out, "train.csv"), index=False)
    train.to_parquet(os.path.join(out, "train.parquet"), compression="snappy")
    production.to_csv(os.path.join(out, "production.csv"), index=False)
    production.to_parquet(os.path.join(out, "production.parquet"), compression="snappy")
    holdout.to_parquet(os.path.join(out, "holdout.parquet"), compression="snappy")
    traffic.to_parquet(os.path.join(out, "traffic.parquet"), compression="snappy")
    print(f"{time.perf_counter() - start:.3f}")


main()
