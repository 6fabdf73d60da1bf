#!/usr/bin/env bash
# Installs everything Kestrel's tests need, idempotently:
#   Debian packages (ONNX node tests, Fashion-MNIST, qemu, cross linker), the onnxruntime wheel in a venv
#   (its libonnxruntime.so is what the `ort` crate loads), and the rustup targets.
# Prints `export ORT_DYLIB_PATH=...` at the end; scripts/env.sh sources the same value.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${KESTREL_VENV:-$HOME/.cache/kestrel/venv}"

need_apt=()
[ -d /usr/share/libonnx-testdata/data/node ] || need_apt+=(libonnx-testdata)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu)
[ -f /usr/aarch64-linux-gnu/lib/Scrt1.o ] || need_apt+=(libc6-dev-arm64-cross)
command -v arm-none-eabi-size >/dev/null || need_apt+=(binutils-arm-none-eabi)
# kestrel-stream: ffmpeg decodes videos/streams; headless Chromium tests the preview page;
# libclang builds nokhwa's V4L2 bindings (the `camera` feature).
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need_apt+=(libclang-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import onnxruntime, onnx, numpy" 2>/dev/null; then
  echo "setup: pip install onnxruntime onnx numpy into $VENV" >&2
  "$VENV/bin/pip" install -q onnxruntime onnx numpy
fi

for t in thumbv7em-none-eabihf aarch64-unknown-linux-gnu; do
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done

lib=$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n1)
echo "export ORT_DYLIB_PATH=$lib"
