#!/usr/bin/env bash
# Builds tests/cortex-m-kernels (its own workspace, --locked) for thumbv7em-none-eabihf and
# runs it under qemu-system-arm (mps2-an386, Cortex-M4F): every kernel of the Cortex-M `dsp`
# set against the scalar reference on random shapes with tails, then whole int8 models
# (tests/golden/mnist_cnn_28.int8.kes, models/fashion-mnist/model.kes,
# tests/golden/cifar_cnn_32.int8.kes) with both sets;
# int8 outputs must be identical. Exits non-zero on any mismatch. Takes seconds. With
# -icount the SysTick counts it prints per inference are deterministic (an instruction count
# proxy, not Cortex-M timing).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
target="$CARGO_TARGET_DIR/cortex-m-kernels"
(cd tests/cortex-m-kernels && CARGO_TARGET_DIR="$target" cargo build -q --release --locked)
elf="$target/thumbv7em-none-eabihf/release/kestrel-cortex-m-kernels"
timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf"
