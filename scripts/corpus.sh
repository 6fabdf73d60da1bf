#!/usr/bin/env bash
# The model corpus of issue 12: graphs that other people's tools wrote.
#   - Keras applications and the course's MNIST / CIFAR-10 CNNs, seeded random weights,
#     exported with tf2onnx (scripts/corpus_export.py) into $KESTREL_CORPUS/keras;
#   - the ONNX wheel's light zoo (onnx/backend/test/data/light);
#   - the ONNX wheel's pytorch-converted 2-D tests (compiled with --batch 1).
# Installs tensorflow-cpu + tf2onnx into the project's venv (idempotent), then runs
# `kestrel check` and `kestrel compile --precision f32` on every model and prints a table:
# model, source, whether it compiles (else its first unsupported ops), .kes / .onnx size,
# compile time. Slow (minutes); not part of scripts/test.sh.
#
#   scripts/corpus.sh            # everything
#   KESTREL=path/to/kestrel scripts/corpus.sh   # another binary (e.g. to compare before/after)
#   CORPUS_ONLY=light scripts/corpus.sh         # one source: keras, light or pytorch
#   CORPUS_EXPECT=36 CORPUS_ONLY=pytorch scripts/corpus.sh   # as a test (scripts/test.sh):
#       exit 1 if fewer than 36 models compile or a compiled model's f32 output is not
#       within 1e-4 (relative) of ONNX Runtime's
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${KESTREL_VENV:-$HOME/.cache/kestrel/venv}"
CACHE="${KESTREL_CORPUS:-$HOME/.cache/kestrel/corpus}"
ONLY="${CORPUS_ONLY:-}"
mkdir -p "$CACHE/keras" "$CACHE/out"

if [ ! -x "$VENV/bin/python" ]; then
  bash "$here/scripts/setup.sh" >/dev/null
fi
# Under the venv's lock: scripts/bench.sh --peers installs into the same venv.
# TensorFlow only for the Keras exports (the other sources need the onnx wheel setup.sh installs).
if [ -z "$ONLY" ] || [ "$ONLY" = keras ]; then
flock "$VENV.lock" bash -c '
  if ! "$1/bin/python" -c "import tensorflow, tf2onnx, onnx" 2>/dev/null; then
    echo "corpus: pip install tensorflow-cpu tf2onnx into $1" >&2
    "$1/bin/pip" install -q tensorflow-cpu tf2onnx onnx
  fi' _ "$VENV"
fi

if [ -z "${KESTREL:-}" ]; then
  target="${CARGO_TARGET_DIR:-$here/target}"
  (cd "$here" && cargo build -q -p kestrel-cli --no-default-features)
  KESTREL="$target/debug/kestrel"
fi

onnx_data=$("$VENV/bin/python" -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data'))")

if [ -z "$ONLY" ] || [ "$ONLY" = keras ]; then
  "$VENV/bin/python" "$here/scripts/corpus_export.py" "$CACHE/keras" >&2 || echo "corpus: some Keras exports failed (see above)" >&2
fi

# source<TAB>path<TAB>extra flags, one model a line.
list() {
  if [ -z "$ONLY" ] || [ "$ONLY" = keras ]; then
    for f in "$CACHE"/keras/*.onnx; do [ -f "$f" ] && printf 'keras\t%s\t\n' "$f"; done
  fi
  if [ -z "$ONLY" ] || [ "$ONLY" = light ]; then
    for f in "$onnx_data"/light/*.onnx; do printf 'light\t%s\t\n' "$f"; done
  fi
  if [ -z "$ONLY" ] || [ "$ONLY" = pytorch ]; then
    # The 2-D tests: models whose data input is 4-D (images) or 2-D (vectors).
    "$VENV/bin/python" - "$onnx_data/pytorch-converted" <<'EOF'
import onnx, os, sys
root = sys.argv[1]
for d in sorted(os.listdir(root)):
    p = os.path.join(root, d, "model.onnx")
    if not os.path.exists(p):
        continue
    g = onnx.load(p, load_external_data=False).graph
    inits = {t.name for t in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    if ins and len(ins[0].type.tensor_type.shape.dim) in (2, 4):
        print(f"pytorch\t{p}\t--batch 1")
EOF
  fi
}

printf '%-40s %-8s %-9s %-50s %10s %8s %9s\n' model source compiles "first unsupported (check)" "kes/onnx" "time s" "f32 rel"
total=0; ok=0; wrong=0
while IFS=$'\t' read -r src path flags; do
  name=$(basename "$path" .onnx)
  [ "$name" = model ] && name=$(basename "$(dirname "$path")")
  total=$((total + 1))
  # shellcheck disable=SC2086
  # shellcheck disable=SC2086
  ops=$("$KESTREL" check "$path" $flags 2>/dev/null | sed -n 's/^node "[^"]*" (\([^)]*\)).*/\1/p' \
    | sort | uniq -c | sort -rn | awk '{print $2}' | head -n4 | paste -sd, - || true)
  out="$CACHE/out/$name.kes"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  if "$KESTREL" compile "$path" -o "$out" --precision f32 $flags >/dev/null 2>"$CACHE/out/$name.err"; then
    t1=$(date +%s.%N)
    ok=$((ok + 1))
    ratio=$(awk -v a="$(stat -c %s "$out")" -v b="$(stat -c %s "$path")" 'BEGIN { printf "%.2f", a / b }')
    rel=$("$VENV/bin/python" "$here/scripts/corpus_parity.py" "$path" "$out" "$KESTREL" 2>/dev/null | sed 's/^rel //') \
      || { wrong=$((wrong + 1)); rel="${rel:-failed} WRONG"; }
    printf '%-40s %-8s %-9s %-50s %10s %8.1f %9s\n' "$name" "$src" yes "" "$ratio" "$(echo "$t1 - $t0" | bc)" "${rel:-failed}"
  else
    first="$ops"
    [ -z "$first" ] && first=$(tr '\n' ' ' < "$CACHE/out/$name.err" | sed "s|^error: ||; s|$path: ||; s|^unsupported graph: ||")
    printf '%-40s %-8s %-9s %-50s %10s %8s\n' "$name" "$src" no "${first:0:50}" "" ""
  fi
done < <(list)
echo "compiled (f32): $ok of $total"
if [ -n "${CORPUS_EXPECT:-}" ]; then
  [ "$wrong" = 0 ] || { echo "corpus: $wrong compiled model(s) differ from ONNX Runtime (marked WRONG above)" >&2; exit 1; }
  [ "$ok" -ge "$CORPUS_EXPECT" ] || { echo "corpus: $ok of $total compiled, fewer than the $CORPUS_EXPECT expected" >&2; exit 1; }
fi
