#!/usr/bin/env bash
# The README's speed tables: `kestrel bench` (release build) on the four reference workloads,
# one thread each with the peak probe, and vgg16_ft_224 again on 2 threads. Each run times
# kestrel int8/f32, ONNX Runtime (QDQ export and float) and tract (float) interleaved on the
# same input, and writes its table as markdown under $OUT (default ~/.cache/kestrel/bench).
# Run it on a quiet machine: the ratios come from one run, the percentages from the probe.
# Usage: scripts/bench.sh [SECONDS_PER_MODEL=10]
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/setup.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
secs="${1:-10}"
out="${OUT:-$HOME/.cache/kestrel/bench}"; mkdir -p "$out"
cargo build -q --release --locked -p kestrel-cli --bin kestrel
k="$CARGO_TARGET_DIR/release/kestrel"
for m in mnist_cnn_28 cifar_cnn_32 vgg16_plants_150 vgg16_ft_224; do
  [ -f "$out/$m.onnx" ] || "$k" zoo "$m" -o "$out/$m.onnx" >/dev/null
  echo "== $m, 1 thread" >&2
  "$k" bench "$out/$m.onnx" --peak --time "$secs" --markdown "$out/$m-1t.md"
done
echo "== vgg16_ft_224, 2 threads" >&2
"$k" bench "$out/vgg16_ft_224.onnx" --threads 2 --engines kestrel,ort --peak --time "$secs" --markdown "$out/vgg16_ft_224-2t.md"
echo "tables in $out" >&2
