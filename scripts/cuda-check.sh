#!/usr/bin/env bash
# Check that `kestrel-cli --features cuda` (Candle's CUDA backend) compiles, on a machine
# without a CUDA install: NVIDIA's PyPI wheels of one toolkit version (nvcc, runtime headers,
# CCCL, crt, nvvm — all 13.2, a version cudarc 0.19 knows) go into a venv under
# ~/.cache/kestrel/cuda, and candle-kernels' PTX is compiled with that nvcc. Where a CUDA
# toolkit is installed, plain `cargo build --release -p kestrel-cli --features cuda`
# (CUDA_ROOT pointing at it, nvcc on PATH) is the build; a GPU is needed only to run.
# Not part of scripts/test.sh (about 7 minutes on 2 cores). Usage: scripts/cuda-check.sh [build]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$HOME/.cache/kestrel/cuda"
ver="13.2.*"
if [ ! -x "$venv/bin/pip" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install -q "nvidia-cuda-nvcc==$ver" "nvidia-cuda-runtime==$ver" "nvidia-cuda-cccl==$ver" \
  "nvidia-cuda-crt==$ver" "nvidia-nvvm==$ver"
cuda=$(echo "$venv"/lib/python3*/site-packages/nvidia/cu13)
export CUDA_ROOT="$cuda" CUDA_PATH="$cuda" PATH="$cuda/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"   # no GPU to ask: sm_80 (A100); set yours
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target-cuda}"
nvcc --version | tail -n 2
if [ "${1:-check}" = build ]; then
  cargo build --release --locked -p kestrel-cli --features cuda
else
  cargo check --locked -p kestrel-cli --features cuda
fi
echo "kestrel-cli with --features cuda: ${1:-check} ok"
