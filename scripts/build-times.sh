#!/usr/bin/env bash
# Cold build times and binary sizes, each in an empty target dir (nothing reused), as a
# markdown table for docs/measurements.md:
#   - the README's main job: `cargo build -p kestrel-cli --no-default-features` (dev profile),
#   - the deploy-only `kestrel` in release (compile, inspect, run, zoo, sign) and its size,
#   - the full `kestrel` in release (every command) and its size.
# Usage: scripts/build-times.sh [WHICH...]   WHICH: main deploy full (default: all three)
# Needs the crates downloaded once (any earlier build or `cargo fetch`); prints the CPU and
# the load average, since both change what a cold build costs.
set -euo pipefail
cd "$(dirname "$0")/.."
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(main deploy full)
root=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-build-times.XXXXXX")
trap 'rm -rf "$root"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "CPU: $cpu, $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| build | command | cold time | binary |"
echo "|---|---|---|---|"
row() { # name profile-dir cargo-args...
  local name=$1 prof=$2; shift 2
  local t0 t1 size
  t0=$(date +%s)
  CARGO_TARGET_DIR="$root/$name" cargo build -q --locked "$@" >&2
  t1=$(date +%s)
  size=$(stat -c %s "$root/$name/$prof/kestrel")
  echo "| $name | \`cargo build $*\` | $((t1 - t0)) s | $((size / 1024 / 1024)) MB |"
  rm -rf "${root:?}/$name"
}
for w in "${which[@]}"; do
  case "$w" in
    main) row main debug -p kestrel-cli --no-default-features ;;
    deploy) row deploy release --release -p kestrel-cli --no-default-features ;;
    full) row full release --release -p kestrel-cli ;;
    *) echo "unknown build '$w' (main, deploy, full)" >&2; exit 1 ;;
  esac
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
