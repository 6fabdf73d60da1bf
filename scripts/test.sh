#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/setup.sh, idempotent), then
#   - cargo test for the workspace (parity with ONNX Runtime and tract, ONNX conformance,
#     .kes format, arena plan, no allocation during inference),
#   - kestrel-runtime built for thumbv7em-none-eabihf (no_std, no default features),
#   - kestrel-runtime's tests for aarch64 under qemu-aarch64 (with and without the dot product),
#     including whole-model parity of the two VGG16 workloads (generated here) with scalar
#     (the host's unit tests also run them through the Cortex-M dsp code),
#   - Miri over the reader and scalar kernels, and every fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/setup.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max"

echo "== the two VGG16 reference workloads as int8 .kes (whole-model parity of the aarch64 sets under qemu and of the Cortex-M dsp code on the host)"
cargo build -q -p kestrel-cli --bin kestrel --locked
parity="$CARGO_TARGET_DIR/parity-models"
rm -rf "$parity" && mkdir -p "$parity"
KESTREL_PARITY_MODELS=""
for m in vgg16_plants_150 vgg16_ft_224; do
  "$CARGO_TARGET_DIR/debug/kestrel" zoo "$m" -o "$parity/$m.onnx" --seed 1 --inputs "$parity/calib_$m" --count 3 >/dev/null
  "$CARGO_TARGET_DIR/debug/kestrel" compile "$parity/$m.onnx" -o "$parity/$m.int8.kes" --calib "$parity/calib_$m" >/dev/null
  rm "$parity/$m.onnx"
  KESTREL_PARITY_MODELS="$KESTREL_PARITY_MODELS${KESTREL_PARITY_MODELS:+:}$parity/$m.int8.kes"
done
export KESTREL_PARITY_MODELS
echo "== cargo test (workspace)"
cargo test --workspace --locked
echo "== model corpus: the ONNX wheel's pytorch-converted 2-D tests compile and match ONNX Runtime in f32 (scripts/corpus.sh)"
CORPUS_ONLY=pytorch CORPUS_EXPECT=36 KESTREL="$CARGO_TARGET_DIR/debug/kestrel" bash scripts/corpus.sh
echo "== kestrel-runtime for thumbv7em-none-eabihf (no_std)"
cargo build -p kestrel-runtime --no-default-features --target thumbv7em-none-eabihf --locked
echo "== kestrel-runtime with signature checking for thumbv7em-none-eabihf (no_std)"
cargo build -p kestrel-runtime --no-default-features --features signature --target thumbv7em-none-eabihf --locked
echo "== Miri: the .kes reader, validator and scalar kernels (scripts/miri.sh)"
bash scripts/miri.sh
echo "== fuzzing: each target for a few seconds from the seeds (scripts/fuzz.sh ci)"
bash scripts/fuzz.sh ci
echo "== kestrel-runtime tests for aarch64 under qemu: a CPU with the dot product (-cpu max), then NEON only (Cortex-A72)"
cargo build -p kestrel-runtime --target aarch64-unknown-linux-gnu --locked
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max" KESTREL_EXPECT_KERNELS=neon-dotprod,neon,scalar \
    cargo test -p kestrel-runtime --features std --target aarch64-unknown-linux-gnu --locked
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a72" KESTREL_EXPECT_KERNELS=neon,scalar \
    cargo test -p kestrel-runtime --features std --target aarch64-unknown-linux-gnu --locked
echo "== Cortex-M4 firmware under qemu-system-arm vs the host runtime"
bash scripts/firmware-test.sh
echo "== Cortex-M DSP kernels under qemu-system-arm vs the scalar reference"
bash scripts/cortex-m-kernel-test.sh
echo "== kestrel-stream with the camera feature (nokhwa/V4L2 builds; a missing camera is a clear error)"
cargo test -p kestrel-stream --features camera --locked --test pipeline missing_camera
echo "== C API: a C program through the static library vs kestrel run"
bash scripts/capi-test.sh
echo "== firmware examples: drone roof inspection on a generated video, Raspberry Pi camera under qemu-aarch64"
bash scripts/examples-test.sh
echo "== all tests passed"
