"""The metric suite of the benchmark in Python Polars (the peer an engineer would write).

Usage: peer_polars.py OBSERVATIONS ENTITIES INDICATORS TARGETS OUT_DIR
Writes OUT_DIR/series.parquet and OUT_DIR/targets.parquet (see bench/README.md for the suite).
"""
import sys

import polars as pl

obs_path, entities_path, indicators_path, targets_path, out = sys.argv[1:6]
obs = pl.read_parquet(obs_path) if obs_path.endswith(".parquet") else pl.read_csv(obs_path, schema_overrides={"entity": pl.Utf8, "value": pl.Float64})
ent = pl.read_csv(entities_path, schema_overrides={"code": pl.Utf8, "parent": pl.Utf8})
ind = pl.read_csv(indicators_path, schema_overrides={"accumulation": pl.Utf8})
tgt = pl.read_csv(targets_path, schema_overrides={"entity": pl.Utf8})

df = (
    obs.with_columns(
        pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("year"),
        pl.col("period").str.slice(5, 2).cast(pl.Int32).alias("sub"),
    )
    .join(ind.select("code", "kind", "accumulation", "direction"), left_on="indicator", right_on="code", how="left")
    .join(ent.select("code", "parent", "level"), left_on="entity", right_on="code", how="left")
    .sort("entity", "indicator", "year", "sub")
)
points = pl.col("kind").is_in(["rate", "ratio"])
ytd = pl.col("accumulation") == "ytd"


def pct(value, base):
    return pl.when((base > 0) & (value >= 0)).then((value / base - 1) * 100)


keys = ["entity", "indicator", "year", "sub"]
# Year-to-date totals: published for ytd flows; the running sum of complete months for period flows.
present = pl.col("value").is_not_null().cast(pl.Int32).cum_sum().over("entity", "indicator", "year")
df = df.with_columns(
    pl.when(ytd).then(pl.col("value"))
    .when((pl.col("accumulation") == "period") & (present == pl.col("sub")))
    .then(pl.col("value").cum_sum().over("entity", "indicator", "year"))
    .alias("ytd_value")
)
last_year = df.select("entity", "indicator", (pl.col("year") + 1).alias("year"), "sub", pl.col("value").alias("v_ly"), pl.col("ytd_value").alias("ytd_ly"))
# The previous month, carried to the month after it.
nxt_year = pl.when(pl.col("sub") == 12).then(pl.col("year") + 1).otherwise(pl.col("year"))
nxt_sub = pl.when(pl.col("sub") == 12).then(1).otherwise(pl.col("sub") + 1)
prev = df.select("entity", "indicator", nxt_year.alias("year"), nxt_sub.alias("sub"), pl.col("value").alias("v_prev"))
df = df.join(last_year, on=keys, how="left").join(prev, on=keys, how="left")
df = df.with_columns(
    pl.when(ytd.not_() | (pl.col("sub") == 1)).then(pl.col("value")).otherwise(pl.col("value") - pl.col("v_prev")).alias("period_value")
)
prev_pv = df.select("entity", "indicator", nxt_year.alias("year"), nxt_sub.alias("sub"), pl.col("period_value").alias("pv_prev"))
df = df.join(prev_pv, on=keys, how="left").with_columns(
    pl.when(points).then(None).otherwise(pct(pl.col("value"), pl.col("v_ly"))).alias("yoy_pct"),
    (pl.col("value") - pl.col("v_ly")).alias("yoy_change"),
    pl.when(points).then(None).otherwise(pct(pl.col("period_value"), pl.col("pv_prev"))).alias("pop_pct"),
    pct(pl.col("ytd_value"), pl.col("ytd_ly")).alias("ytd_yoy_pct"),
)
growth = pl.when(points).then(pl.col("yoy_change")).otherwise(pl.col("yoy_pct"))
sign = pl.when(pl.col("direction") == "down").then(-1.0).otherwise(1.0)
df = df.with_columns((growth * sign).rank("dense", descending=True).over("parent", "level", "indicator", "period").cast(pl.UInt32).alias("rank_growth"))
series = df.select("entity", "indicator", "period", "yoy_pct", "yoy_change", "pop_pct", "ytd_yoy_pct", "rank_growth")
series.write_parquet(f"{out}/series.parquet")

# Targets: the latest value against the target and the base period's value.
observed = df.filter(pl.col("value").is_not_null())
latest = observed.sort("year", "sub").group_by("entity", "indicator").agg(pl.col("value").last().alias("yt"))
base = observed.select("entity", "indicator", pl.col("period").alias("base_period"), pl.col("value").alias("y0"))
t = tgt.join(latest, on=["entity", "indicator"], how="left").join(base, on=["entity", "indicator", "base_period"], how="left")
d = pl.when(pl.col("comparator") == "<=").then(-1.0).otherwise(1.0)
span = (pl.col("target") - pl.col("y0")).abs()
raw = d * (pl.col("yt") - pl.col("y0")) / span
t = t.with_columns(
    (d * (pl.col("target") - pl.col("yt"))).alias("gap"),
    pl.when(span > 0).then(pl.when(raw > 1).then(1.0).otherwise(raw) * 100).alias("progress_pct"),
)
t.select("entity", "indicator", "gap", "progress_pct").write_parquet(f"{out}/targets.parquet")
