#!/usr/bin/env bash
# One command for the gateway's speed figures, side by side with the direct call to the fake
# Bedrock and with LiteLLM, in the same run on the same machine. See BENCHMARKS.md.
#
#   bench/run.sh                 full run (about 10 minutes; installs tools on first use)
#   bench/run.sh --quick         short run that proves the benchmark works (CI); asserts no timing
#   bench/run.sh --no-litellm    skip LiteLLM (if it cannot be installed here)
#   bench/run.sh --quick --litellm   short run including LiteLLM
#   bench/run.sh --no-pin        do not pin processes to CPUs
#   bench/run.sh --no-cargo-lambda   skip the `cargo lambda` cross-check of Lambda init
#   bench/run.sh --guardrails    only the guardrail rows (about 2 minutes; with --quick: seconds)
#   bench/run.sh --keys [--quick]    only the keys benchmark (bench/keys.py): virtual keys with
#                                    budgets and limits in DynamoDB (moto) vs the master key
#   bench/run.sh --features [--quick] [--no-litellm]   every feature on, at steady state, against
#                                    LiteLLM with the same features (bench/features.py)
#
# Prints one table and writes bench/results/latest.json (bench/results/quick.json for --quick).
# Only 127.0.0.1 is contacted; every load run is bounded; every process started is ended on exit.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
cd "$ROOT"
# Where oha and the bench client are installed; set BENCH_TOOLS_DIR to a folder outside the work
# tree (CI: a cache) to keep them across fresh clones.
export BENCH_TOOLS_DIR="${BENCH_TOOLS_DIR:-$BENCH/.tools}"
TOOLS="$BENCH_TOOLS_DIR"

QUICK=0
KEYS=0
FEATURES=0
FEATURES_PASS=()
KEYS_PASS=()
LITELLM=auto
CARGO_LAMBDA=1
PASS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1; PASS+=(--quick); KEYS_PASS+=(--quick); FEATURES_PASS+=(--quick) ;;
    --features) FEATURES=1; CARGO_LAMBDA=0 ;;
    --keys) KEYS=1; LITELLM=0; CARGO_LAMBDA=0 ;;
    --no-litellm) LITELLM=0; PASS+=(--no-litellm); FEATURES_PASS+=(--no-litellm) ;;
    --litellm) LITELLM=1; PASS+=(--litellm) ;;
    --no-pin) PASS+=(--no-pin); KEYS_PASS+=(--no-pin); FEATURES_PASS+=(--no-pin) ;;
    --no-cargo-lambda) CARGO_LAMBDA=0 ;;
    --guardrails) LITELLM=0; CARGO_LAMBDA=0; PASS+=(--guardrails --no-litellm) ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ "$KEYS" = 1 ]; then LITELLM=0; CARGO_LAMBDA=0; fi
if [ "$LITELLM" = auto ]; then
  if [ "$QUICK" = 1 ]; then LITELLM=0; else LITELLM=1; fi
fi
if [ "$FEATURES" = 1 ] && [ "$LITELLM" = 0 ]; then FEATURES_PASS+=(--no-litellm); fi
if [ "$QUICK" = 1 ]; then
  CARGO_LAMBDA=0
  PASS+=(--out "$BENCH/results/quick.json")
fi

# Pinned versions of the tools the benchmark installs for itself (into bench/, gitignored).
OHA_VERSION=1.16.0
LITELLM_VERSION=1.108.7
CARGO_LAMBDA_VERSION=1.9.2

say() { printf '[bench/run.sh] %s\n' "$*" >&2; }

BENCH_PID=""
cleanup() {
  local code=$?
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Release binaries: the gateway and the fake Bedrock; and the benchmark's own client.
say "building release binaries"
# `bench-knobs`: the slow-store gateway's usage.simulated_latency_ms.
cargo build --release --quiet -p chat -p gateway-tests --bin chat --bin fake-bedrock --features chat/bench-knobs
if [ "$KEYS" = 0 ] && cargo metadata --no-deps --format-version 1 2>/dev/null | grep -q '"name":"lex"'; then
  cargo build --release --quiet --bin lex || say "lex did not build: its size is left out"
fi
cargo build --release --quiet --manifest-path "$BENCH/client/Cargo.toml" \
  --target-dir "$TOOLS/target"

# 2. The load generator: oha (cargo install), cached in $BENCH_TOOLS_DIR (default bench/.tools).
if [ ! -x "$TOOLS/bin/oha" ] || ! "$TOOLS/bin/oha" --version | grep -q "$OHA_VERSION"; then
  say "installing oha $OHA_VERSION into $TOOLS (a few minutes, once)"
  cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS" --quiet
fi

# 3. LiteLLM in its own virtualenv.
if [ "$LITELLM" = 1 ]; then
  VENV="$BENCH/.venv-litellm"
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null; then
    say "installing litellm[proxy]==$LITELLM_VERSION into bench/.venv-litellm (once)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION" || {
      say "LiteLLM could not be installed: rerun with --no-litellm to measure without it"
      exit 1
    }
  fi
fi

# LiteLLM's arize_phoenix callback (the features-on run) needs the OpenTelemetry SDK.
if [ "$LITELLM" = 1 ] && [ "$FEATURES" = 1 ] &&
   ! "$VENV/bin/python" -c "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http" 2>/dev/null; then
  say "installing the OpenTelemetry SDK into bench/.venv-litellm (once)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check opentelemetry-api opentelemetry-sdk \
    opentelemetry-exporter-otlp-proto-http
fi

# 4. cargo-lambda (PyPI) for the cross-check of Lambda init under its emulator.
CL_ARGS=()
if [ "$CARGO_LAMBDA" = 1 ]; then
  TVENV="$BENCH/.venv-tools"
  if [ ! -x "$TVENV/bin/cargo-lambda" ]; then
    say "installing cargo-lambda==$CARGO_LAMBDA_VERSION into bench/.venv-tools (once)"
    { python3 -m venv "$TVENV" &&
      "$TVENV/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"; } ||
      say "cargo-lambda could not be installed: its cross-check is skipped"
  fi
  if [ -x "$TVENV/bin/cargo-lambda" ]; then CL_ARGS=(--cargo-lambda "$TVENV/bin"); fi
fi

# 5. Measure.
if [ "$KEYS" = 1 ]; then
  [ -x "$ROOT/.venv/bin/moto_server" ] || "$ROOT/scripts/bootstrap-python.sh"
  say "measuring virtual keys (bench/keys.py)"
  python3 "$BENCH/keys.py" "${KEYS_PASS[@]}" &
  BENCH_PID=$!
  wait "$BENCH_PID"
  exit $?
fi
if [ "$FEATURES" = 1 ]; then
  say "measuring every feature on (bench/features.py)"
  python3 "$BENCH/features.py" "${FEATURES_PASS[@]}" &
  BENCH_PID=$!
  wait "$BENCH_PID"
  exit $?
fi
say "measuring"
python3 "$BENCH/bench.py" "${PASS[@]}" "${CL_ARGS[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"
