#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer), one target per parser:
#   kes          .kes reader + validator (+ signature check) + one run of each accepted model
#   onnx_import  ONNX bytes -> IR or a typed error (+ passes, f32 lowering, reload)
#   npy, idx     the tensor file readers
#   image        png/jpeg decoding + preprocessing into a model input
# Targets live in fuzz/ (its own workspace); their bodies in tests/src/fuzz_harness.rs.
#
#   scripts/fuzz.sh ci                 build, then each target for KESTREL_FUZZ_SECONDS (8) s
#                                      from the checked-in seeds (fuzz/seeds/); a crash fails
#   scripts/fuzz.sh campaign [SECS]    each target for SECS (default 1800) s, niced, with a
#                                      persistent corpus; KESTREL_FUZZ_TARGETS picks targets
#   scripts/fuzz.sh run TARGET SECS    one target, persistent corpus
#   scripts/fuzz.sh stats              executions and crashes per target from all logs
#
# Work files (corpus, logs, crash artifacts) go to $KESTREL_FUZZ_HOME
# (~/.cache/kestrel/fuzz); nothing but fuzz/seeds is checked in. A crash's input is
# written to $KESTREL_FUZZ_HOME/artifacts/TARGET/; fix it and copy the input to
# tests/fuzz-regressions/TARGET/ so `cargo test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_HOME="${KESTREL_FUZZ_HOME:-$HOME/.cache/kestrel/fuzz}"
TARGET_DIR="${KESTREL_FUZZ_TARGET_DIR:-$HOME/.cache/kestrel/fuzz-target}"
TARGETS=(kes onnx_import npy idx image)
BIN="$TARGET_DIR/x86_64-unknown-linux-gnu/release"

# Per-target libFuzzer options: largest input, and time per input before it counts as a hang.
opts() {
  case "$1" in
    kes) echo "-max_len=24576 -timeout=10" ;;
    onnx_import) echo "-max_len=32768 -timeout=10" ;;
    image) echo "-max_len=16384 -timeout=10" ;;
    *) echo "-max_len=8192 -timeout=10" ;;
  esac
}

install() {
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
}

build() {
  install
  # -O: release; debug assertions (overflow checks) stay on, as cargo-fuzz defaults.
  cargo +nightly fuzz build -O --target-dir "$TARGET_DIR" >&2
}

# run_one TARGET SECONDS CORPUS_DIR: libFuzzer on TARGET; new inputs go to CORPUS_DIR, the
# seeds are read too. Prints the executions; returns libFuzzer's status.
run_one() {
  local t=$1 secs=$2 corpus=$3 log
  mkdir -p "$corpus" "$FUZZ_HOME/artifacts/$t" "$FUZZ_HOME/logs"
  log="$FUZZ_HOME/logs/$t-$(date +%Y%m%d-%H%M%S).log"
  local rc=0 pre=()
  [ -z "${NICE:-}" ] || pre=(nice -n 19)
  # shellcheck disable=SC2046
  "${pre[@]}" "$BIN/$t" "$corpus" "$ROOT/fuzz/seeds/$t" $(opts "$t") -max_total_time="$secs" \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_HOME/artifacts/$t/" >"$log" 2>&1 || rc=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)
  echo "fuzz: $t: ${runs:-?} executions in ${secs}s, exit $rc (log: $log)"
  if [ "$rc" != 0 ]; then
    grep -E 'ERROR|panicked|Test unit written|SUMMARY' "$log" | head -n 8 >&2 || true
  fi
  return "$rc"
}

stats() {
  printf '%-12s %14s %8s %8s\n' target executions runs crashes
  for t in "${TARGETS[@]}"; do
    local total=0 n=0 crashes=0
    for f in "$FUZZ_HOME"/logs/"$t"-*.log; do
      [ -e "$f" ] || continue
      local r
      r=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$f" | grep -o '[0-9]*$' | tail -n1 || true)
      total=$((total + ${r:-0})); n=$((n + 1))
      grep -q 'Test unit written' "$f" && crashes=$((crashes + 1))
    done
    printf '%-12s %14s %8s %8s\n' "$t" "$total" "$n" "$crashes"
  done
}

mode="${1:-ci}"
case "$mode" in
  ci)
    build
    secs="${KESTREL_FUZZ_SECONDS:-8}"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    fail=0
    for t in "${TARGETS[@]}"; do
      run_one "$t" "$secs" "$tmp/$t" || fail=1
    done
    [ "$fail" = 0 ] || { echo "fuzz: a target crashed; inputs under $FUZZ_HOME/artifacts" >&2; exit 1; }
    ;;
  campaign)
    build
    secs="${2:-1800}"
    read -r -a picked <<<"${KESTREL_FUZZ_TARGETS:-${TARGETS[*]}}"
    for t in "${picked[@]}"; do
      NICE=1 run_one "$t" "$secs" "$FUZZ_HOME/corpus/$t" || true
    done
    stats
    ;;
  run)
    build
    NICE=1 run_one "$2" "$3" "$FUZZ_HOME/corpus/$2"
    ;;
  build) build ;;
  stats) stats ;;
  *) echo "usage: scripts/fuzz.sh [ci|campaign [SECS]|run TARGET SECS|build|stats]" >&2; exit 2 ;;
esac
