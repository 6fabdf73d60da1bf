#!/usr/bin/env bash
# Miri over the runtime's format reader, validator and scalar kernels: the zero-copy
# casts (runtime/core/src/cast.rs) and every slice the kernels index are checked for
# undefined behaviour. Installs nightly's miri component if missing (idempotent).
#   runtime/core/tests/reader.rs   tiny models of every op kind (int8 and f32) loaded and
#                                  run on the scalar kernels, corruptions, truncations,
#                                  misaligned model and arena
#   the runtime's unit tests of the scalar helpers (CRC, rounding, requantization), and
#   the Cortex-M dsp kernels on fixed shapes (their raw-pointer reads; on the host they run
#   with portable models of the DSP instructions)
# SIMD kernels are not run: under Miri the CPU reports no SIMD features, so dispatch picks
# the scalar set.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed | grep -q '^miri' \
  || rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
cargo +nightly miri test -p kestrel-runtime --test reader
cargo +nightly miri test -p kestrel-runtime --lib -- crc32 round_half_even requantize cortexm
