"""The same generation with numpy + pandas, for the benchmark's ratio.

Reads exercise.toml, draws the splits (train, production, holdout, traffic)
the same way: correlated latent normal scores (`[dependence]`, a Gaussian
copula), each feature's distribution truncated to its clip and to the
bounds its `[[constraints]]` give it, in dependency order; the same label
model; missingness; a mean shift of one latent score in production. Writes
train/production as CSV + Parquet and the holdout as Parquet, like
`grader variant`. It does NOT certify (no KS, chi-square or AUC): the Rust
side does that on top, so the ratio is conservative for Rust.

usage: python3 numpy_generate.py EXERCISE_TOML OUT_DIR TRAIN_ROWS EXTRA_NUMERIC
prints the elapsed seconds.
"""
import os
import sys
import time
import tomllib

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr


def marginal(d):
    k = d["kind"]
    if k == "normal":
        return stats.norm(d["mean"], d["sd"])
    if k == "lognormal":
        return stats.lognorm(d["sigma"], scale=np.exp(d["mu"]))
    if k == "uniform":
        return stats.uniform(d["low"], d["high"] - d["low"])
    if k == "exponential":
        return stats.expon(scale=d["mean"])
    return stats.poisson(d["lambda"])


def render(f, z, lo, hi):
    """Values at latent scores z, the distribution truncated to [lo, hi]."""
    d = f["dist"]
    if d["kind"] == "categorical":
        w = np.array(d["weights"], dtype=float)
        cum = np.cumsum(w / w.sum())
        idx = np.minimum(np.searchsorted(cum, ndtr(z)), len(w) - 1)
        return np.array(d["categories"], dtype=object)[idx]
    m = marginal(d)
    discrete = d["kind"] == "poisson"
    p_lo = np.where(np.isfinite(lo), m.cdf(np.ceil(lo) - 1 if discrete else lo), 0.0)
    p_hi = np.where(np.isfinite(hi), m.cdf(hi), 1.0)
    x = m.ppf(np.clip(p_lo + ndtr(z) * (p_hi - p_lo), 1e-16, 1 - 1e-16)).astype(float)
    x = np.round(np.clip(x, lo, hi), f.get("decimals", 2))
    step = 10.0 ** -f.get("decimals", 2)
    return np.clip(x, np.ceil(lo / step) * step, np.floor(hi / step) * step)


def draw(rng, spec, features, n, shift=None):
    """Every feature of n rows, in dependency order."""
    names = [f["name"] for f in features]
    k = len(features)
    corr = np.eye(k)
    for a, b, rho in spec.get("dependence", {}).get("correlations", []):
        i, j = names.index(a), names.index(b)
        corr[i, j] = corr[j, i] = rho
    z = rng.standard_normal((n, k)) @ np.linalg.cholesky(corr).T
    if shift:
        z[:, names.index(shift[0])] += shift[1]
    constraints = spec.get("constraints", [])
    done, cols = set(), {}
    while len(done) < k:
        for i, f in enumerate(features):
            reads = {c for r in constraints if r["column"] == f["name"] for c in [*r.get("plus", {}), *r.get("when", {})]}
            if f["name"] in done or not reads <= done:
                continue
            lo, hi = (np.full(n, float(b)) for b in f.get("clip", (-np.inf, np.inf)))
            for r in (r for r in constraints if r["column"] == f["name"] and "allowed" not in r):
                bound = r.get("at_least", r.get("at_most")) + sum(w * cols[c] for c, w in r.get("plus", {}).items())
                if "at_least" in r:
                    lo = np.maximum(lo, bound)
                else:
                    hi = np.minimum(hi, bound)
            cols[f["name"]] = render(f, z[:, i], lo, hi)
            done.add(f["name"])
    return cols


def value(v, rng):
    """A number, or a [low, high] range drawn once (exercise.toml's family)."""
    return rng.uniform(*v) if isinstance(v, list) else v


def split(rng, spec, features, n, shift=None):
    values = draw(rng, spec, features, n, shift)
    cols = {"customer_id": rng.permutation(n) * 4 + 100000}
    logit = np.full(n, value(spec["label"]["intercept"], rng))
    for f in features:
        x = values[f["name"]]
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
    shifted = (numeric[0]["name"], 0.5)
    production, _ = split(rng, spec, features, rows["production"], shifted)
    holdout, yh = split(rng, spec, features, rows["holdout"])
    holdout[spec["label"]["name"]] = yh
    traffic, _ = split(rng, spec, features, rows["traffic"], shifted)
    train.to_csv(os.path.join(out, "train.csv"), index=False)
    train.to_parquet(os.path.join(out, "train.parquet"), compression="snappy")
    production.to_csv(os.path.join(out, "production.csv"), index=False)
    production.to_parquet(os.path.join(out, "production.parquet"), compression="snappy")
    holdout.to_parquet(os.path.join(out, "holdout.parquet"), compression="snappy")
    traffic.to_parquet(os.path.join(out, "traffic.parquet"), compression="snappy")
    print(f"{time.perf_counter() - start:.3f}")


main()
