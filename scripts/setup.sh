#!/usr/bin/env bash
# Installs what pacer needs on a Debian/Ubuntu machine with a Rust toolchain, and nothing that is already there:
#   - Debian packages: PostgreSQL (server binaries), a C toolchain, pkg-config and zlib for librdkafka, and
#     tmux for the console's end-to-end test, Prometheus (server and promtool) for the dashboard's test;
#   - the nisshi broker (a Kafka-compatible broker in Rust), built once into ~/.cache/pacer/bin so that every
#     clone of the repository reuses it (the first build takes about 20 minutes).
set -euo pipefail

NISSHI_VERSION=0.8.1
CACHE="${PACER_CACHE:-$HOME/.cache/pacer}"
NISSHI="$CACHE/bin/nisshi"

say() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1
  fi
}

# --- Debian packages -----------------------------------------------------------------------------------------
packages=(postgresql build-essential pkg-config zlib1g-dev tmux prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin"; exit 1
fi

# --- the nisshi broker ---------------------------------------------------------------------------------------
if [ -x "$NISSHI" ] && [ -f "$CACHE/nisshi.version" ] && [ "$(cat "$CACHE/nisshi.version")" = "$NISSHI_VERSION" ]; then
  :
elif [ -x "$NISSHI" ] && "$NISSHI" --version 2>/dev/null | grep -q "$NISSHI_VERSION"; then
  echo "$NISSHI_VERSION" > "$CACHE/nisshi.version"
else
  # nisshi needs rustc >= 1.96: use the default toolchain if it is new enough, else an installed nightly.
  toolchain=""
  minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
  if [ "${minor:-0}" -lt 96 ]; then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then toolchain="+nightly"; else
      say "nisshi $NISSHI_VERSION needs rustc >= 1.96 and this machine has $(rustc --version) and no nightly"; exit 1
    fi
  fi
  say "building nisshi $NISSHI_VERSION into $CACHE/bin (once; about 20 minutes)"
  mkdir -p "$CACHE"
  cargo $toolchain install nisshi --version "$NISSHI_VERSION" --locked --no-default-features \
    --features dynostore,postgres --root "$CACHE" --target-dir "$CACHE/nisshi-build"
  rm -rf "$CACHE/nisshi-build"
  echo "$NISSHI_VERSION" > "$CACHE/nisshi.version"
fi
say "ready: PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -1), nisshi $NISSHI_VERSION at $NISSHI"
