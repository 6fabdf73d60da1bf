#!/usr/bin/env bash
# Builds the C API (runtime/capi) as a static library, compiles the C test program against
# the committed header with gcc, classifies the shipped models' .npy inputs through it and
# checks every top-1 class equals `kestrel run`'s.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
cargo build -q -p kestrel-capi --lib && cargo build -q -p kestrel-cli --bin kestrel
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=c11 -O2 -Wall -Wextra -Werror -I runtime/capi/include runtime/capi/tests/c/classify.c \
  "$CARGO_TARGET_DIR/debug/libkestrel_capi.a" -lpthread -ldl -lm -o "$tmp/classify"
checked=0
for dir in models/*/; do
  model="$dir/model.kes"
  [ -f "$model" ] || continue
  inputs=$(ls "$dir"samples/*.npy "$dir"samples_npy/*.npy "$dir"calib/*.npy 2>/dev/null || true)
  [ -n "$inputs" ] || continue
  # shellcheck disable=SC2086
  c=$("$tmp/classify" "$model" $inputs | awk '{print $1, $2}')
  # shellcheck disable=SC2086
  host=$("$CARGO_TARGET_DIR/debug/kestrel" run "$model" $inputs --json \
    | python3 -c 'import json,sys,os; [print(os.path.basename(r["input"]), r["top"][0]["index"]) for r in json.load(sys.stdin)]')
  if [ "$c" != "$host" ]; then
    echo "C API and kestrel run disagree on $model:" >&2
    diff <(echo "$host") <(echo "$c") >&2 || true
    exit 1
  fi
  checked=$((checked + $(echo "$c" | wc -l)))
  echo "C API on $model: $(echo "$c" | wc -l) inputs, top-1 equal to kestrel run"
done
[ "$checked" -gt 0 ] || { echo "no model with .npy inputs found" >&2; exit 1; }
# C firmware: the same library builds as a no_std static library for a Cortex-M4F.
cargo build -q -p kestrel-capi --target thumbv7em-none-eabihf 2>&1 | grep -v "dropping unsupported crate type" || true
test -f "$CARGO_TARGET_DIR/thumbv7em-none-eabihf/debug/libkestrel_capi.a"
echo "C API: libkestrel_capi.a builds for thumbv7em-none-eabihf (no_std)"
