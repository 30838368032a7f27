"""The benchmark: townpulse against DuckDB, pandas and Python Polars, side by side in one run.

Usage (from the repository root, after `cargo build --release -p townpulse`; `just bench` does both):

    bench/.venv/bin/python bench/run.py [--scales province,10000,national] [--runs 3] [--memory-limit-gib 20]

For each scale it generates the data once (`townpulse demo-data`, kept in bench/data/), then times
each command `--runs` times, round robin (each round runs every command once, in an order rotated
from round to round; wall time and peak memory from /usr/bin/time; the median is reported, and
townpulse's ratios to the peers and the floor within each round):
the floor (read the input Parquet and write it back), the same copy of the series tables that
`townpulse compute` and `compute --columns` write (a lower bound for any tool that writes them;
townpulse writes them once before the rounds), townpulse ingest from CSV and from Parquet,
townpulse compute, a full townpulse run (every county's email to the outbox), and the three peers.
At province scale each peer's output is checked equal to townpulse's. Writes bench/RESULTS.md.
"""
import argparse
import json
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
TOWNPULSE = ROOT / "target" / "release" / "townpulse"
TIMEOUT_S = 900
PYTHON = sys.executable


def limit_memory(gib):
    def apply():
        if gib:
            limit = int(gib * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def timed(command, cwd, gib):
    """(seconds, peak MiB, ok, tail of the output) of one run."""
    wrapped = ["/usr/bin/time", "-f", "TIME %e %M"] + [str(c) for c in command]
    try:
        proc = subprocess.run(wrapped, cwd=cwd, capture_output=True, text=True, preexec_fn=limit_memory(gib), timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return float("nan"), 0, False, f"killed after {TIMEOUT_S} s"
    line = [l for l in proc.stderr.splitlines() if l.startswith("TIME ")][-1:]
    seconds, kib = (float(line[0].split()[1]), int(line[0].split()[2])) if line else (float("nan"), 0)
    ok = proc.returncode in (0, 1)  # 1: done with problems (townpulse's quality findings)
    return seconds, kib / 1024, ok, (proc.stdout + proc.stderr)[-600:]


def generate(scale):
    out = DATA / scale
    if not (out / "observations.parquet").exists():
        subprocess.run([TOWNPULSE, "demo-data", "--scale", scale, "--out", out, "--divisions", ROOT.parent / "shared/data/admin-divisions"], check=True)
    config = (out / "townpulse.toml").read_text(encoding="utf-8")
    # A second configuration that reads the CSV instead of the Parquet file.
    (out / "townpulse-csv.toml").write_text(config.replace('path = "observations.parquet"', 'path = "observations.csv"'), encoding="utf-8")
    # A third whose emails link to the report where it is published instead of attaching it.
    linked = config.replace("[delivery]\n", '[delivery]\nreport_base_url = "https://reports.example.gov.cn/townpulse/"\n', 1)
    assert linked != config, "the generated configuration has no [delivery] table"
    (out / "townpulse-linked.toml").write_text(linked, encoding="utf-8")
    return out


# The series columns the peers compute: `townpulse compute --columns` computes and writes only
# these (its targets, quality and standards tables are whole either way).
SUITE_COLUMNS = "yoy_pct,yoy_change,pop_pct,ytd_yoy_pct,rank_growth"
SUITE_COMPUTE = "townpulse compute --columns (the suite's series columns)"
COMPUTE = "townpulse compute"
FLOOR = "floor: read + write Parquet (Python Polars)"
# Lower bounds for any tool that writes what townpulse writes: the floor's read and write, with no
# computing, of the series table `compute` writes and of the suite's (`compute --columns`). Each
# copy names the command whose table it copies and the folder that table is kept in.
COPY_WHOLE = "copy of compute's series table (read + write, Python Polars)"
COPY_SUITE = "copy of the suite's series table (read + write, Python Polars)"
COPIED = {COPY_WHOLE: (COMPUTE, "whole"), COPY_SUITE: (SUITE_COMPUTE, "suite")}
PEERS = ["DuckDB", "pandas", "Python Polars"]


def commands(data):
    inputs = [data / "observations.parquet", data / "entities.csv", data / "indicators.csv", data / "targets.csv"]
    tp = [TOWNPULSE]
    return {
        FLOOR: [PYTHON, BENCH / "floor.py", inputs[0], data / "out-floor"],
        COPY_WHOLE: [PYTHON, BENCH / "floor.py", copy_source(data, COPY_WHOLE), data / "out-floor"],
        COPY_SUITE: [PYTHON, BENCH / "floor.py", copy_source(data, COPY_SUITE), data / "out-floor"],
        "townpulse ingest (CSV)": tp + ["--config", data / "townpulse-csv.toml", "ingest"],
        "townpulse ingest (Parquet)": tp + ["--config", data / "townpulse.toml", "ingest"],
        COMPUTE: tp + ["compute", "--observations", inputs[0], "--entities", inputs[1], "--indicators", inputs[2], "--targets", inputs[3], "--out", data / "out-townpulse", "--format", "parquet"],
        SUITE_COMPUTE: tp + ["compute", "--observations", inputs[0], "--entities", inputs[1], "--indicators", inputs[2], "--targets", inputs[3], "--out", data / "out-townpulse-suite", "--format", "parquet", "--columns", SUITE_COLUMNS],
        "townpulse run (all counties' emails)": tp + ["--config", data / "townpulse.toml", "run"],
        "townpulse run (emails link the report)": tp + ["--config", data / "townpulse-linked.toml", "run"],
        "DuckDB": [PYTHON, BENCH / "peer_duckdb.py"] + inputs + [data / "out-duckdb"],
        "pandas": [PYTHON, BENCH / "peer_pandas.py"] + inputs + [data / "out-pandas"],
        "Python Polars": [PYTHON, BENCH / "peer_polars.py"] + inputs + [data / "out-polars"],
    }


def copy_source(data, copy):
    """The series table the copy `copy` reads, kept outside the folders each run starts without."""
    return data / "copy-source" / COPIED[copy][1] / "series.parquet"


def prepare_copies(data, todo):
    """Runs townpulse's commands whose series tables the copies in `todo` read, once, before the rounds."""
    names = [name for name, _ in todo]
    for copy, (name, _) in COPIED.items():
        if copy in names:
            table = copy_source(data, copy)
            command = [str(c) for c in commands(data)[name]]
            command[command.index("--out") + 1] = str(table.parent)
            shutil.rmtree(table.parent, ignore_errors=True)
            subprocess.run(command, cwd=data, capture_output=True, check=False)
            if not table.exists():
                sys.exit(f"{name} wrote no {table}: the copies need it")


def fresh(data, name):
    """Each run starts from nothing: no warehouse, no ledger, no outputs of an earlier run."""
    for folder in ["reports", "out-floor", "out-townpulse", "out-townpulse-suite", "out-duckdb", "out-pandas", "out-polars"]:
        shutil.rmtree(data / folder, ignore_errors=True)
        if folder != "reports":
            (data / folder).mkdir(parents=True, exist_ok=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="province,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-limit-gib", type=float, default=20.0)
    parser.add_argument("--skip", default="", help="commands to leave out, by the start of their name, comma-separated (e.g. 'townpulse run')")
    args = parser.parse_args()
    if not TOWNPULSE.exists():
        sys.exit(f"{TOWNPULSE} is missing: cargo build --release -p townpulse (or `just bench`)")
    # Results of earlier invocations (other scales) are kept, so scales can be run separately.
    store = DATA / "results.json"
    saved = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
    results = {k: v for k, v in saved.get("results", {}).items() if k not in args.scales.split(",")}
    checks = saved.get("checks", {})
    for scale in args.scales.split(","):
        data = generate(scale)
        rows = sum(1 for _ in open(data / "observations.csv", encoding="utf-8")) - 1
        skip = [s for s in args.skip.split(",") if s]
        # Commands skipped this time keep the times an earlier invocation measured.
        earlier = saved.get("results", {}).get(scale, {}).get("times", {}) if skip else {}
        results[scale] = {"rows": rows, "runs": args.runs, "times": {k: v for k, v in earlier.items() if any(k.startswith(s) for s in skip)}}
        # Round robin: each round runs every command once, each round in a rotated order, so that
        # a slow spell of the machine (this VM's page faults vary several-fold from minute to
        # minute) falls on every command alike instead of on one command's consecutive runs.
        todo = [(name, command) for name, command in commands(data).items() if not any(name.startswith(s) for s in skip)]
        runs = {name: [] for name, _ in todo}
        prepare_copies(data, todo)
        failed = set()
        for round_ in range(args.runs):
            shift = round_ % len(todo) if todo else 0
            for name, command in todo[shift:] + todo[:shift]:
                if name in failed:
                    continue
                fresh(data, name)
                seconds, mib, ok, tail = timed(command, data, args.memory_limit_gib)
                runs[name].append((seconds, mib, ok))
                print(f"{scale:>9} round {round_ + 1} {name:<42} {seconds:8.2f} s {mib:9.0f} MiB {'ok' if ok else 'FAILED'}", flush=True)
                if not ok:
                    print(tail, flush=True)
                    failed.add(name)
        # Each round's seconds by command (None for a failed run), for the ratios within a round.
        results[scale]["rounds"] = {name: [r[0] if r[2] else None for r in command_runs] for name, command_runs in runs.items()}
        for name, command_runs in runs.items():
            ok_runs = [r for r in command_runs if r[2]]
            results[scale]["times"][name] = (
                statistics.median(r[0] for r in ok_runs) if ok_runs else None,
                statistics.median(r[1] for r in ok_runs) if ok_runs else max(r[1] for r in command_runs),
                len(ok_runs),
            )
        results[scale]["times"] = {k: results[scale]["times"][k] for k in commands(data) if k in results[scale]["times"]}
        if scale == "province":
            # The equality check needs each output once more: townpulse compute, then each peer.
            fresh(data, "")
            for name in [COMPUTE, SUITE_COMPUTE] + PEERS:
                subprocess.run([str(c) for c in commands(data)[name]], cwd=data, capture_output=True)
            pairs = [("DuckDB", "out-townpulse", "out-duckdb"), ("pandas", "out-townpulse", "out-pandas"), ("Python Polars", "out-townpulse", "out-polars"),
                     ("DuckDB against `compute --columns`", "out-townpulse-suite", "out-duckdb")]
            for check, ours, folder in pairs:
                proc = subprocess.run([PYTHON, BENCH / "compare.py", data / ours, data / folder], capture_output=True, text=True)
                checks[check] = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    DATA.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({"results": results, "checks": checks}, ensure_ascii=False, indent=1), encoding="utf-8")
    write_results(results, checks, args)


def versions():
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"

    import duckdb, pandas, polars  # noqa: E401

    return {
        "townpulse": run("git", "rev-parse", "--short", "HEAD") + " (release build)",
        "rustc": run("rustc", "--version"),
        "Polars (Rust, in townpulse)": "0.55.2",
        "Python": platform.python_version(),
        "DuckDB": duckdb.__version__,
        "pandas": pandas.__version__,
        "Python Polars": polars.__version__,
    }


def ratios(seconds, peer_times, floor):
    """`seconds` over the fastest of `peer_times` and over `floor` (None where a time is missing)."""
    peer_times = [t for t in peer_times if t]
    return (seconds / min(peer_times) if seconds and peer_times else None, seconds / floor if seconds and floor else None)


def round_ratios(rounds):
    """Lines giving, round by round, townpulse's time over the fastest peer's and the floor's in
    that same round (commands run one after another within a round), with their median."""
    peers = [p for p in PEERS if p in rounds]
    at = lambda name, i: rounds[name][i] if name in rounds and i < len(rounds[name]) else None
    lines = []
    for name in [COMPUTE, SUITE_COMPUTE]:
        by_round = [ratios(seconds, [at(p, i) for p in peers], at(FLOOR, i)) for i, seconds in enumerate(rounds.get(name, []))]
        by_peer = [r for r, _ in by_round if r is not None]
        by_floor = [r for _, r in by_round if r is not None]
        if by_peer:
            text = ", ".join(f"{r:.2f}×" for r in by_peer)
            line = f"{name} / the fastest peer of the same round ({', '.join(peers)}): {text} (median {statistics.median(by_peer):.2f}×)"
            if by_floor:
                line += f"; / the floor of the same round: {', '.join(f'{r:.2f}×' for r in by_floor)} (median {statistics.median(by_floor):.2f}×)"
            lines += ["", line + "."]
    return lines


def write_results(results, checks, args):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    lines = [
        "# Benchmark results (`just bench`)",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), {mem} GiB; "
        f"the commands run round robin (each round runs every command once, in a rotated order) and each time is the median of the rounds given per scale; peak memory is the maximum resident set size; a limit of {args.memory_limit_gib:g} GiB of address space per command.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".",
        "",
        "The suite (the same in each peer): year on year; period on period with year-to-date totals differenced within their year; "
        "year-to-date growth of period flows (only where every month so far is present); dense rank of the year-on-year growth within "
        "parent × level × indicator × period; a target's gap and progress share. townpulse computes all of its series, target, quality "
        "and standards tables besides (`townpulse compute` writes 34 series columns), so its time is an upper bound for the suite. "
        f"`townpulse compute --columns {SUITE_COLUMNS}` computes and writes only the suite's series columns (after entity, indicator and period), "
        "skipping the steps they do not need; its targets, quality and standards tables are still whole.",
        "",
    ]
    if checks:
        lines += ["Equality with townpulse's `compute` output at province scale (`bench/compare.py`, relative tolerance 1e-9, nulls alike): "
                  + "; ".join(f"{k}: {v}" for k, v in checks.items()) + ".", ""]
    for scale, result in sorted(results.items(), key=lambda item: item[1]["rows"]):
        times = result["times"]
        lines += [f"### {scale} ({result['rows']:,} observations; median of {result.get('runs', 1)} run(s))", "", "| command | wall (s) | peak memory (MiB) |", "|---|---:|---:|"]
        for name, (seconds, mib, _ok) in times.items():
            wall = f"{seconds:.2f}" if seconds is not None else "failed"
            lines.append(f"| {name} | {wall} | {mib:,.0f} |")
        median = lambda name: times.get(name, (None,))[0]
        to_peer, to_floor = ratios(median(COMPUTE), [median(p) for p in PEERS], median(FLOOR))
        if to_peer and to_floor:
            lines += ["", f"townpulse compute / fastest peer: {to_peer:.2f}× (goal ≤ 0.5×); townpulse compute / floor: {to_floor:.2f}× (goal ≤ 2×)."]
            suite_to_peer, suite_to_floor = ratios(median(SUITE_COMPUTE), [median(p) for p in PEERS], median(FLOOR))
            if suite_to_peer:
                lines += ["", f"townpulse compute --columns (the suite) / fastest peer: {suite_to_peer:.2f}×; / floor: {suite_to_floor:.2f}×."]
            bounds = [(copy, median(copy) / median(FLOOR)) for copy in COPIED if median(copy)]
            if bounds:
                lines += ["", "Reading and writing back the series table a command writes, with no computing (a lower bound for any tool that writes that table): "
                          + "; ".join(f"`{COPIED[copy][0].split(' (')[0]}`'s {median(copy):.2f} s, {ratio:.2f}× the floor" for copy, ratio in bounds) + "."]
        lines += round_ratios(result.get("rounds", {}))
        lines.append("")
    # Everything above the marker (the `extract` results) stays as it is.
    marker = "<!-- bench/run.py writes below this line -->"
    path = BENCH / "RESULTS.md"
    kept = path.read_text(encoding="utf-8").split(marker)[0] if path.exists() else ""
    path.write_text(kept.rstrip() + "\n\n" + marker + "\n\n" + "\n".join(lines).replace("# Benchmark results (`just bench`)", "## Scale: townpulse against DuckDB, pandas and Python Polars"), encoding="utf-8")
    print(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
