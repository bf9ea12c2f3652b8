#!/usr/bin/env bash
# The console's CPU at rest: `pacer tui` in a tmux terminal, watching a running pipeline (pacer up with a
# steady load) without a key pressed, measured from /proc over a window; the pipeline's own CPU over the same
# window is printed beside it as the reference. Usage: scripts/bench-console.sh [window seconds] [load events/s]
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW="${1:-60}"
LOAD="${2:-1000}"
cargo build --release --locked -q
PACER="$PWD/target/release/pacer"
STATE="$(mktemp -d)"
SOCKET="pacer-bench-$$"
cleanup() {
  tmux -L "$SOCKET" kill-server 2>/dev/null || true
  [ -n "${UP:-}" ] && kill -INT "$UP" 2>/dev/null && wait "$UP" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT

"$PACER" up --no-console --state-dir "$STATE" --http-port 0 --control-port 0 --broker-storage memory \
  --load "$LOAD" >"$STATE/up.out" 2>"$STATE/up.log" &
UP=$!
for _ in $(seq 120); do
  grep -q "^  control " "$STATE/up.out" 2>/dev/null && break
  sleep 1
done
CONTROL=$(awk '/^  control /{print $2}' "$STATE/up.out")
[ -n "$CONTROL" ] || { echo "pacer up did not start; see $STATE/up.log" >&2; cat "$STATE/up.log" >&2; exit 1; }

tmux -L "$SOCKET" new-session -d -s console -x 120 -y 40 \
  "$PACER tui --control $CONTROL --admin-token-file $STATE/admin.token --log-file $STATE/tui.log"
sleep 10
TUI=$(tmux -L "$SOCKET" list-panes -t console -F '#{pane_pid}')
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
t0=$(ticks "$TUI"); u0=$(ticks "$UP"); s0=$(date +%s.%N)
sleep "$WINDOW"
t1=$(ticks "$TUI"); u1=$(ticks "$UP"); s1=$(date +%s.%N)
tmux -L "$SOCKET" capture-pane -p -t console | head -3 >&2
awk -v t="$((t1 - t0))" -v u="$((u1 - u0))" -v hz="$HZ" -v s0="$s0" -v s1="$s1" -v load="$LOAD" 'BEGIN {
  wall = s1 - s0
  printf "window %.0f s, load %d events/s\n", wall, load
  printf "pacer tui (idle, 1 snapshot/s): %.2f %% of one core\n", 100 * t / hz / wall
  printf "pacer up (the pipeline, reference): %.1f %% of one core\n", 100 * u / hz / wall
}'
