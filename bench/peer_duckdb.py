"""The metric suite of the benchmark in DuckDB SQL (the peer an engineer would write).

Usage: peer_duckdb.py OBSERVATIONS ENTITIES INDICATORS TARGETS OUT_DIR
Writes OUT_DIR/series.parquet and OUT_DIR/targets.parquet (see bench/README.md for the suite).
"""
import sys

import duckdb

obs, entities, indicators, targets, out = sys.argv[1:6]
reader = f"read_parquet('{obs}')" if obs.endswith(".parquet") else f"read_csv('{obs}', header=true, columns={{'entity':'VARCHAR','indicator':'VARCHAR','period':'VARCHAR','value':'DOUBLE'}})"
con = duckdb.connect()
con.execute(f"""
CREATE TEMP TABLE ent AS SELECT * FROM read_csv('{entities}', header=true, all_varchar=true);
CREATE TEMP TABLE ind AS SELECT * FROM read_csv('{indicators}', header=true, all_varchar=true);
CREATE TEMP TABLE tgt AS SELECT entity, indicator, comparator, CAST(target AS DOUBLE) AS target, base_period
  FROM read_csv('{targets}', header=true, all_varchar=true);
CREATE TEMP TABLE o AS
SELECT o.entity, o.indicator, o.period, o.value,
       CAST(substr(o.period, 1, 4) AS INTEGER) AS year, CAST(substr(o.period, 6, 2) AS INTEGER) AS sub,
       i.kind IN ('rate', 'ratio') AS points, i.accumulation AS acc, i.direction, e.parent, e.level
FROM {reader} o LEFT JOIN ind i ON i.code = o.indicator LEFT JOIN ent e ON e.code = o.entity;
CREATE TEMP TABLE y AS
SELECT *,
  CASE WHEN acc = 'ytd' THEN value
       WHEN acc = 'period' AND SUM(CASE WHEN value IS NULL THEN 0 ELSE 1 END) OVER w = sub THEN SUM(value) OVER w END AS ytd_value
FROM o WINDOW w AS (PARTITION BY entity, indicator, year ORDER BY sub ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);
CREATE TEMP TABLE p AS
SELECT y.*, ly.value AS v_ly, ly.ytd_value AS ytd_ly, pm.value AS v_prev,
  CASE WHEN y.acc IS DISTINCT FROM 'ytd' OR y.sub = 1 THEN y.value ELSE y.value - pm.value END AS period_value
FROM y
LEFT JOIN y ly ON ly.entity = y.entity AND ly.indicator = y.indicator AND ly.year = y.year - 1 AND ly.sub = y.sub
LEFT JOIN y pm ON pm.entity = y.entity AND pm.indicator = y.indicator
  AND pm.year = CASE WHEN y.sub = 1 THEN y.year - 1 ELSE y.year END AND pm.sub = CASE WHEN y.sub = 1 THEN 12 ELSE y.sub - 1 END;
CREATE TEMP TABLE s AS
SELECT p.entity, p.indicator, p.period, p.points, p.direction, p.parent, p.level,
  CASE WHEN NOT p.points AND p.v_ly > 0 AND p.value >= 0 THEN (p.value / p.v_ly - 1) * 100 END AS yoy_pct,
  p.value - p.v_ly AS yoy_change,
  CASE WHEN NOT p.points AND pp.period_value > 0 AND p.period_value >= 0 THEN (p.period_value / pp.period_value - 1) * 100 END AS pop_pct,
  CASE WHEN p.ytd_ly > 0 AND p.ytd_value >= 0 THEN (p.ytd_value / p.ytd_ly - 1) * 100 END AS ytd_yoy_pct
FROM p LEFT JOIN p pp ON pp.entity = p.entity AND pp.indicator = p.indicator
  AND pp.year = CASE WHEN p.sub = 1 THEN p.year - 1 ELSE p.year END AND pp.sub = CASE WHEN p.sub = 1 THEN 12 ELSE p.sub - 1 END;
CREATE TEMP TABLE r AS
SELECT entity, indicator, period, yoy_pct, yoy_change, pop_pct, ytd_yoy_pct,
  CASE WHEN g IS NULL THEN NULL ELSE CAST(DENSE_RANK() OVER (PARTITION BY parent, level, indicator, period, g IS NULL ORDER BY g DESC) AS UINTEGER) END AS rank_growth
FROM (SELECT *, (CASE WHEN points THEN yoy_change ELSE yoy_pct END) * (CASE WHEN direction = 'down' THEN -1 ELSE 1 END) AS g FROM s);
COPY r TO '{out}/series.parquet' (FORMAT parquet);
CREATE TEMP TABLE latest AS
SELECT entity, indicator, arg_max(value, year * 100 + sub) AS yt FROM o WHERE value IS NOT NULL GROUP BY entity, indicator;
COPY (
  SELECT t.entity, t.indicator,
    (CASE WHEN t.comparator = '<=' THEN -1 ELSE 1 END) * (t.target - l.yt) AS gap,
    CASE WHEN abs(t.target - b.value) > 0 THEN
      LEAST((CASE WHEN t.comparator = '<=' THEN -1 ELSE 1 END) * (l.yt - b.value) / abs(t.target - b.value), 1.0) * 100 END AS progress_pct
  FROM tgt t LEFT JOIN latest l USING (entity, indicator)
  LEFT JOIN o b ON b.entity = t.entity AND b.indicator = t.indicator AND b.period = t.base_period AND b.value IS NOT NULL
) TO '{out}/targets.parquet' (FORMAT parquet);
""")
