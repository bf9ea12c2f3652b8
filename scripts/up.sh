#!/usr/bin/env bash
# The first command of the README: install what is missing, build pacer, and run the whole pipeline locally
# with a load generator posting events. Extra arguments go to `pacer up` (see `pacer up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --bin pacer
if [ $# -eq 0 ]; then set -- --load 200; fi
exec ./target/release/pacer up "$@"
