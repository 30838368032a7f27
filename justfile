# townpulse: an index of one-line recipes over the CLI. `cargo install just` to use it.
set shell := ["bash", "-euo", "pipefail", "-c"]

_default:
    @just --list

# Run the monthly job (default: the latest period in the data), e.g. `just run --period 2015-08`
[group('operate')]
run *args:
    cargo run --quiet -p townpulse -- run {{args}}

# Check the configuration and catalogue files, reporting every problem at once
[group('operate')]
validate:
    cargo run --quiet -p townpulse -- validate

# Re-send a period's emails, e.g. `just resend 2023 --failed-only` or `just resend 2023 --to a@b.cn`
[group('operate')]
resend period *args:
    cargo run --quiet -p townpulse -- resend --period {{period}} {{args}}

# Write what a recipient would receive for a period, as .eml and .html, without sending
[group('operate')]
preview period recipient:
    cargo run --quiet -p townpulse -- preview --period {{period}} --recipient {{recipient}}

# The latest run: stages, inputs, problems, deliveries
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
