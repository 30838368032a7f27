"""The metric suite of the benchmark in pandas (the peer an analyst would write).

Usage: peer_pandas.py OBSERVATIONS ENTITIES INDICATORS TARGETS OUT_DIR
Writes OUT_DIR/series.parquet and OUT_DIR/targets.parquet (see bench/README.md for the suite).
"""
import sys

import numpy as np
import pandas as pd

obs_path, entities_path, indicators_path, targets_path, out = sys.argv[1:6]
obs = pd.read_parquet(obs_path) if obs_path.endswith(".parquet") else pd.read_csv(obs_path, dtype={"entity": str, "indicator": str, "period": str})
ent = pd.read_csv(entities_path, dtype=str)
ind = pd.read_csv(indicators_path, dtype=str)
tgt = pd.read_csv(targets_path, dtype={"entity": str})

df = obs.merge(ind[["code", "kind", "accumulation", "direction"]], left_on="indicator", right_on="code", how="left").drop(columns="code")
df = df.merge(ent[["code", "parent", "level"]], left_on="entity", right_on="code", how="left").drop(columns="code")
df["year"] = df["period"].str[:4].astype(int)
df["sub"] = df["period"].str[5:7].astype(int)
df = df.sort_values(["entity", "indicator", "year", "sub"]).reset_index(drop=True)
points = df["kind"].isin(["rate", "ratio"])
ytd = df["accumulation"] == "ytd"


def pct(value, base):
    return np.where((base > 0) & (value >= 0), (value / base - 1) * 100, np.nan)


g = df.groupby(["entity", "indicator", "year"], sort=False)["value"]
present = df["value"].notna().astype(int).groupby([df["entity"], df["indicator"], df["year"]]).cumsum()
running = g.cumsum()
df["ytd_value"] = np.where(ytd, df["value"], np.where((df["accumulation"] == "period") & (present == df["sub"]), running, np.nan))
keys = ["entity", "indicator", "year", "sub"]
ly = df[keys + ["value", "ytd_value"]].rename(columns={"value": "v_ly", "ytd_value": "ytd_ly"})
ly["year"] += 1
prev = df[keys + ["value"]].rename(columns={"value": "v_prev"})
wrap = prev["sub"] == 12
prev["year"] = np.where(wrap, prev["year"] + 1, prev["year"])
prev["sub"] = np.where(wrap, 1, prev["sub"] + 1)
df = df.merge(ly, on=keys, how="left").merge(prev, on=keys, how="left")
ytd = df["accumulation"] == "ytd"
points = df["kind"].isin(["rate", "ratio"])
df["period_value"] = np.where(~ytd | (df["sub"] == 1), df["value"], df["value"] - df["v_prev"])
pv = df[keys + ["period_value"]].rename(columns={"period_value": "pv_prev"})
wrap = pv["sub"] == 12
pv["year"] = np.where(wrap, pv["year"] + 1, pv["year"])
pv["sub"] = np.where(wrap, 1, pv["sub"] + 1)
df = df.merge(pv, on=keys, how="left")
points = df["kind"].isin(["rate", "ratio"])
df["yoy_pct"] = np.where(points, np.nan, pct(df["value"], df["v_ly"]))
df["yoy_change"] = df["value"] - df["v_ly"]
df["pop_pct"] = np.where(points, np.nan, pct(df["period_value"], df["pv_prev"]))
df["ytd_yoy_pct"] = pct(df["ytd_value"], df["ytd_ly"])
sign = np.where(df["direction"] == "down", -1.0, 1.0)
df["_g"] = np.where(points, df["yoy_change"], df["yoy_pct"]) * sign
df["rank_growth"] = df.groupby(["parent", "level", "indicator", "period"], dropna=False)["_g"].rank(method="dense", ascending=False).astype("UInt32")
df[["entity", "indicator", "period", "yoy_pct", "yoy_change", "pop_pct", "ytd_yoy_pct", "rank_growth"]].to_parquet(f"{out}/series.parquet", index=False)

observed = df[df["value"].notna()]
latest = observed.sort_values(["year", "sub"]).groupby(["entity", "indicator"], as_index=False)["value"].last().rename(columns={"value": "yt"})
base = observed[["entity", "indicator", "period", "value"]].rename(columns={"period": "base_period", "value": "y0"})
t = tgt.merge(latest, on=["entity", "indicator"], how="left").merge(base, on=["entity", "indicator", "base_period"], how="left")
d = np.where(t["comparator"] == "<=", -1.0, 1.0)
span = (t["target"] - t["y0"]).abs()
raw = d * (t["yt"] - t["y0"]) / span
t["gap"] = d * (t["target"] - t["yt"])
t["progress_pct"] = np.where(span > 0, np.minimum(raw, 1.0) * 100, np.nan)
t[["entity", "indicator", "gap", "progress_pct"]].to_parquet(f"{out}/targets.parquet", index=False)
