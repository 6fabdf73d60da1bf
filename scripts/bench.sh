#!/usr/bin/env bash
# The README's speed tables: `kestrel bench` (release build) on the four reference workloads,
# one thread each with the peak probe, and vgg16_ft_224 again on 2 threads. Each run times
# kestrel int8/f32, ONNX Runtime (QDQ export and float) and tract (float) interleaved on the
# same input, and writes its table as markdown under $OUT (default ~/.cache/kestrel/bench).
# Run it on a quiet machine: the ratios come from one run, the percentages from the probe.
# Usage: scripts/bench.sh [SECONDS_PER_MODEL=10]
#        scripts/bench.sh --peers [SECONDS_PER_MODEL=10]   # issue 13 item 4: LiteRT and OpenVINO
#   on the same Keras models (scripts/bench-peers.py) beside `kestrel bench` (kestrel, ORT);
#   KESTREL=path skips the build. Tables merged into $OUT/peers.md.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/setup.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
peers=0; if [ "${1:-}" = --peers ]; then peers=1; shift; fi
secs="${1:-10}"
out="${OUT:-$HOME/.cache/kestrel/bench}"; mkdir -p "$out"
if [ -n "${KESTREL:-}" ]; then k="$KESTREL"; else
  cargo build -q --release --locked -p kestrel-cli --bin kestrel
  k="$CARGO_TARGET_DIR/release/kestrel"
fi
if [ "$peers" = 1 ]; then
  VENV="${KESTREL_VENV:-$HOME/.cache/kestrel/venv}"
  [ -x "$VENV/bin/python" ] || { echo "bench --peers: no venv at $VENV: run scripts/corpus.sh first" >&2; exit 1; }
  # The venv lock: corpus.sh may be installing into the same venv.
  flock "$VENV.lock" bash -c '"$1/bin/python" -c "import tensorflow, tf2onnx, openvino, ai_edge_litert" 2>/dev/null ||
    "$1/bin/pip" install -q tensorflow-cpu tf2onnx onnx openvino ai-edge-litert' _ "$VENV" \
    || { echo "bench --peers: cannot install openvino / ai-edge-litert into $VENV" >&2; exit 1; }
  merged="$out/peers.md"
  { echo "# Peers on the same Keras models"; echo; echo "\`scripts/bench.sh --peers $secs\` ($(date -u +%F), $(nproc) cores)"; echo; } > "$merged"
  for m in keras_cifar_cnn vgg16_flatten_150 mobilenet_v2; do
    echo "== $m: LiteRT, OpenVINO" >&2
    "$VENV/bin/python" scripts/bench-peers.py "$m" "$out/peers" --kestrel "$k" --time "$secs" >/dev/null
    echo "== $m: kestrel bench" >&2
    "$k" bench "$out/peers/$m.onnx" --engines kestrel,ort --time "$secs" --markdown "$out/peers/$m-kestrel.md" >/dev/null
    { echo "## $m"; echo; cat "$out/peers/$m-kestrel.md"; echo; cat "$out/peers/$m-peers.md"; echo; } >> "$merged"
  done
  echo "merged table: $merged" >&2
  exit 0
fi
for m in mnist_cnn_28 cifar_cnn_32 vgg16_plants_150 vgg16_ft_224; do
  [ -f "$out/$m.onnx" ] || "$k" zoo "$m" -o "$out/$m.onnx" >/dev/null
  echo "== $m, 1 thread" >&2
  "$k" bench "$out/$m.onnx" --peak --time "$secs" --markdown "$out/$m-1t.md"
done
echo "== vgg16_ft_224, 2 threads" >&2
"$k" bench "$out/vgg16_ft_224.onnx" --threads 2 --engines kestrel,ort --peak --time "$secs" --markdown "$out/vgg16_ft_224-2t.md"
echo "tables in $out" >&2
