"""Checks a peer's outputs equal townpulse's `compute` outputs.

Usage: compare.py TOWNPULSE_DIR PEER_DIR
Exits 1, listing examples, when any value differs (relative tolerance 1e-9; nulls must match).
"""
import sys

import polars as pl


def read(path):
    return pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema_length=0)


def load(directory, name, columns, keys):
    for ext in ("parquet", "csv"):
        try:
            frame = read(f"{directory}/{name}.{ext}")
            break
        except FileNotFoundError:
            continue
    return frame.select(keys + columns).with_columns([pl.col(c).cast(pl.Float64) for c in columns] + [pl.col(k).cast(pl.Utf8) for k in keys])


ours_dir, peer_dir = sys.argv[1:3]
bad = 0
for name, keys, columns in [
    ("series", ["entity", "indicator", "period"], ["yoy_pct", "yoy_change", "pop_pct", "ytd_yoy_pct", "rank_growth"]),
    ("targets", ["entity", "indicator"], ["gap", "progress_pct"]),
]:
    ours, peer = load(ours_dir, name, columns, keys), load(peer_dir, name, columns, keys)
    if ours.height != peer.height:
        print(f"{name}: {ours.height} rows in townpulse's output, {peer.height} in the peer's")
        bad += 1
    joined = ours.join(peer, on=keys, how="full", suffix="_peer", coalesce=True)
    for c in columns:
        a, b = pl.col(c), pl.col(f"{c}_peer")
        differs = (a.is_null() != b.is_null()) | (a.is_not_null() & b.is_not_null() & ((a - b).abs() > 1e-9 * (a.abs() + b.abs() + 1e-12)))
        wrong = joined.filter(differs)
        if wrong.height:
            bad += 1
            print(f"{name}.{c}: {wrong.height} of {joined.height} differ, e.g.")
            print(wrong.select(keys + [c, f"{c}_peer"]).head(3))
print("equal" if bad == 0 else f"{bad} columns differ")
sys.exit(1 if bad else 0)
