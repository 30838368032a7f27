# townpulse: an index of one-line recipes over the CLI. `cargo install just` to use it.
set shell := ["bash", "-euo", "pipefail", "-c"]

_default:
    @just --list

# Run the monthly job (default: the latest period in the data), e.g. `just run --period 2015-08`
[group('operate')]
run *args:
    cargo run --quiet -p townpulse -- run {{args}}

# Run a range of periods with a progress bar, e.g. `just backfill 2024-01 2024-12 --dry-run` (`--send` to email too)
[group('operate')]
backfill from to *args:
    cargo run --quiet -p townpulse -- backfill --from {{from}} --to {{to}} {{args}}

# Run the scheduled jobs until Ctrl-C/SIGTERM: catch up missed periods, then fire on each cron
[group('operate')]
serve:
    cargo run --quiet -p townpulse -- serve

# Check configuration, catalogue, templates, sources, output folders and SMTP; `just validate --offline` skips the network
[group('operate')]
validate *args:
    cargo run --quiet -p townpulse -- validate {{args}}

# Re-send a period's emails, e.g. `just resend 2023 --failed-only` or `just resend 2023 --to a@b.cn`
[group('operate')]
resend period *args:
    cargo run --quiet -p townpulse -- resend --period {{period}} {{args}}

# Write what a recipient would receive for a period, as .eml and .html, without sending
[group('operate')]
preview period recipient:
    cargo run --quiet -p townpulse -- preview --period {{period}} --recipient {{recipient}}

# The latest run of each job: stages, inputs, problems, deliveries
[group('operate')]
status:
    cargo run --quiet -p townpulse -- status

# The most recent runs
[group('operate')]
history:
    cargo run --quiet -p townpulse -- history

# Open a period's report in the default browser
[group('operate')]
open period:
    xdg-open reports/out/{{period}}/index.html

# Run every test (the same command as CI)
[group('develop')]
test:
    cargo test --workspace

# Extract baselines and targets from policy documents, e.g. `just extract ../shared/seeds/001_*.part1.txt --out rows.csv`
[group('targets')]
extract *args:
    cargo run --quiet -p townpulse -- extract {{args}}

# Precision and recall of `extract` against the gold tables (part 1 of the national compilation)
[group('targets')]
extract-score:
    cargo run --quiet -p townpulse -- extract ../shared/seeds/001_58abb6e4dd5ecd1a.part1.txt --gold-targets ../shared/seeds/gold/targets.part1.csv --gold-baselines ../shared/seeds/gold/baselines.part1.csv

# Benchmarks: extract, then townpulse against DuckDB, pandas and Python Polars (results in bench/RESULTS.md), e.g. `just bench --scales province,10000,national`
[group('develop')]
bench *args: bench-extract
    cargo build --quiet --release -p townpulse
    test -x bench/.venv/bin/python || (python3 -m venv bench/.venv && bench/.venv/bin/pip install --quiet -r bench/requirements.txt)
    bench/.venv/bin/python bench/run.py {{args}}

# Time `extract` on the 8,531-line compilation (release, only the extract crate is built)
[group('develop')]
bench-extract *files:
    cargo run --quiet --release -p extract --example timing {{files}}
