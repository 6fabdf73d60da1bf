#!/usr/bin/env bash
# Builds firmware-examples/cortex-m4, runs it under qemu-system-arm (mps2-an386), and checks
# that every embedded sample gets the same label as the host runtime (`kestrel run`).
# Usage: scripts/firmware-test.sh [MODEL.kes SAMPLES_DIR]   (defaults: what the firmware embeds)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
model="${1:-}"
samples="${2:-}"
if [ -z "$model" ]; then
  if [ -f models/fashion-mnist/model.kes ]; then model=models/fashion-mnist/model.kes; else model=models/mnist_cnn_28/model.kes; fi
fi
if [ -z "$samples" ]; then
  samples="$(dirname "$model")/samples_npy"; [ -d "$samples" ] || samples="$(dirname "$model")/samples"
fi
export KESTREL_MODEL="$root/$model" KESTREL_SAMPLES="$root/$samples"

cargo build -q -p kestrel-cli --bin kestrel
host=$("$CARGO_TARGET_DIR/debug/kestrel" run "$model" "$samples"/*.npy --json \
  | python3 -c 'import json,sys,os; [print(os.path.basename(r["input"]), r["top"][0]["index"]) for r in json.load(sys.stdin)]')

fw_target="$CARGO_TARGET_DIR/firmware-cortex-m4"
(cd firmware-examples/cortex-m4 && CARGO_TARGET_DIR="$fw_target" cargo build -q --release)
elf="$fw_target/thumbv7em-none-eabihf/release/kestrel-cortex-m4"
out=$(timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -kernel "$elf")
echo "$out"
board=$(echo "$out" | awk -F': ' '/\.npy: /{split($2, a, " "); print $1, a[1]}')
if [ "$host" != "$board" ]; then
  echo "firmware labels differ from the host runtime:" >&2
  diff <(echo "$host") <(echo "$board") >&2 || true
  exit 1
fi
echo "cortex-m4 under qemu: $(echo "$board" | wc -l) samples, labels equal to the host runtime"
if command -v arm-none-eabi-size >/dev/null; then arm-none-eabi-size -A "$elf" | grep -E '^\.(text|rodata|data|bss) '; fi
