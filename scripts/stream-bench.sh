#!/usr/bin/env bash
# End-to-end `kestrel stream` throughput and per-stage latency (the README's table): the shipped
# Fashion-MNIST model (or mnist_cnn_28 while it is absent) and a vgg16_plants_150 reference model,
# each from the synthetic pattern (640x480) and from a 1280x720 H.264 video made by ffmpeg.
# Every frame is processed (--every-frame), so fps is what the pipeline sustains.
# Usage: scripts/stream-bench.sh [FRAMES_SMALL=2000] [FRAMES_VGG=40]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
small_n="${1:-2000}"; vgg_n="${2:-40}"
k="${KESTREL:-}"   # a prebuilt kestrel to measure, else the dev-profile build
if [ -z "$k" ]; then cargo build -q -p kestrel-cli --bin kestrel; k="$CARGO_TARGET_DIR/debug/kestrel"; fi
work="${TMPDIR:-/tmp}/kestrel-stream-bench"; mkdir -p "$work"
small=models/fashion-mnist/model.kes; [ -f "$small" ] || small=models/mnist_cnn_28/model.kes
if [ ! -f "$work/vgg16_plants_150.kes" ]; then
  "$k" zoo vgg16_plants_150 -o "$work/vgg16_plants_150.onnx" --inputs "$work/calib" --count 4 >/dev/null
  "$k" compile "$work/vgg16_plants_150.onnx" --calib "$work/calib" --resize crop -o "$work/vgg16_plants_150.kes" >/dev/null
fi
[ -f "$work/clip720.mp4" ] || ffmpeg -hide_banner -loglevel error -f lavfi \
  -i testsrc=size=1280x720:rate=30:duration=20 -pix_fmt yuv420p -y "$work/clip720.mp4"
echo "| model | source | fps | capture p50/p99 ms | preprocess p50/p99 ms | inference p50/p99 ms | total p50/p99 ms |"
echo "|---|---|---|---|---|---|---|"
run() { # model-name model.kes source frames extra...
  local name=$1 model=$2 src=$3 n=$4; shift 4
  "$k" stream "$model" --source "$src" --frames "$n" --every-frame --no-frame-json --quiet "$@" \
    | python3 -c '
import json, sys
s = [json.loads(l) for l in sys.stdin if "\"summary\"" in l][-1]
f = lambda k: "%.2f / %.2f" % (s[k]["p50_ms"], s[k]["p99_ms"])
print("| %s | %s | %.1f | %s | %s | %s | %s |" % (sys.argv[1], sys.argv[2], s["fps"], f("capture"), f("preprocess"), f("inference"), f("total")))
' "$name" "${src%%:*}"
}
run "$(basename "$(dirname "$small")")" "$small" pattern:640x480 "$small_n"
run "$(basename "$(dirname "$small")")" "$small" "video:$work/clip720.mp4" 600
run vgg16_plants_150 "$work/vgg16_plants_150.kes" pattern:640x480 "$vgg_n" --threads 2
run vgg16_plants_150 "$work/vgg16_plants_150.kes" "video:$work/clip720.mp4" "$vgg_n" --threads 2
