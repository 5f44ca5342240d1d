#!/usr/bin/env bash
# Command 2: every test. Formatting and lints, the Rust unit and integration tests (against the
# fake Bedrock), tests/python (the official OpenAI Python SDK against the local server, and both
# functions through the cargo-lambda Runtime API emulator), the SAM template's checks, and the
# benchmark in its short mode (asserts no timing).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
# In CI nothing is rebuilt twice from one clone, so incremental state (GBs) is only disk spent.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
# The benchmark's load generator is compiled once per machine, outside the clone.
export BENCH_TOOLS_DIR="${BENCH_TOOLS_DIR:-$HOME/.cache/llm-gateway/bench-tools}"

step() { printf '\n==> %s\n' "$*"; }

# One Arize Phoenix for every tracing test (Rust and Lambda): it starts (~20 s; the first run
# also installs its venv outside the clone) while formatting and lints run, and stops when this
# script exits.
phoenix_out=$(mktemp)
if [ -z "${PHOENIX_TEST_URL:-}" ]; then
  PHOENIX_STOP_WITH_PID=$$ scripts/phoenix-serve.sh >"$phoenix_out" &
  phoenix_starter=$!
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings (every feature: bench-knobs, mimalloc)"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
step "cargo deny: licences, bans, sources (deny.toml; advisories with CARGO_DENY_ADVISORIES=1)"
scripts/cargo-deny.sh
step "Arize Phoenix"
if [ -n "${phoenix_starter:-}" ]; then
  wait "$phoenix_starter"
  read -r PHOENIX_TEST_URL _ <"$phoenix_out"
  export PHOENIX_TEST_URL
fi
rm -f "$phoenix_out"
echo "Phoenix at $PHOENIX_TEST_URL"
step "Python tools (.venv: OpenAI SDK, pytest, cargo-lambda, moto_server)"
scripts/bootstrap-python.sh
step "Rust tests (moto_server for DynamoDB and Secrets Manager)"
cargo test --workspace
step "Python: OpenAI SDK against the local server; both functions under cargo lambda's emulator"
.venv/bin/python -m pytest tests/python -q
step "SAM template: cfn-lint, sam validate --lint, URL permissions, deployed config on moto, sam build (SAM_BUILD=0 skips)"
scripts/check-template.sh
step "Lambda emulator: traces into Phoenix"
scripts/lambda-tracing.sh
if [ -x bench/run.sh ]; then
  step "Benchmark, short mode (no timing asserted)"
  bench/run.sh --quick
fi
step "All tests passed"
