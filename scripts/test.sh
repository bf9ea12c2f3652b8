#!/usr/bin/env bash
# The second command of the README: install what is missing, check formatting and lints, and run every test.
# The end-to-end tests start their own private PostgreSQL clusters and nisshi brokers; nothing needs to be
# running beforehand, and a test never skips itself because something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
