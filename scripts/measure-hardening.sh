#!/usr/bin/env bash
# The hardening measurements of SECURITY.md (not a timed test):
#   - executions and crashes per fuzz target, from every campaign's logs (scripts/fuzz.sh);
#   - every single-byte change of a signed model refused (exhaustive over the golden model);
#   - the signature check's cost per load (Model::load_verified minus Model::load).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kestrel/target}"
echo "== fuzzing (all campaigns so far; scripts/fuzz.sh campaign to add more)"
bash scripts/fuzz.sh stats
echo "== signed models"
cargo test -p kestrel-tests --test hardening --locked -- --ignored --nocapture measure_signed_model_hardening 2>&1 \
  | grep -E '^(exhaustive|\|)'
