"""The floor: read the input Parquet and write it back (Python Polars). Usage: floor.py IN OUT_DIR"""
import sys

import polars as pl

pl.read_parquet(sys.argv[1]).write_parquet(f"{sys.argv[2]}/copy.parquet")
