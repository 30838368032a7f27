"""The floor: read a Parquet file and write it back (Python Polars): the input, or a table townpulse wrote. Usage: floor.py IN OUT_DIR"""
import sys

import polars as pl

pl.read_parquet(sys.argv[1]).write_parquet(f"{sys.argv[2]}/copy.parquet")
