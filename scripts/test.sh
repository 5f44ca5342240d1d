#!/usr/bin/env bash
# Command 2: every test. Formatting and lints, the Rust unit and integration tests (against the
# fake Bedrock), the official OpenAI Python SDK against the local server, both functions through
# the cargo-lambda Runtime API emulator, the SAM template's checks, and the benchmark in its short
# mode (asserts no timing).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true
# The benchmark's load generator is compiled once per machine, outside the clone.
export BENCH_TOOLS_DIR="${BENCH_TOOLS_DIR:-$HOME/.cache/llm-gateway/bench-tools}"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "Python tools (.venv: OpenAI SDK, pytest, cargo-lambda, moto_server)"
scripts/bootstrap-python.sh
step "Rust tests (moto_server for DynamoDB and Secrets Manager)"
cargo test --workspace
step "OpenAI Python SDK against the local server"
.venv/bin/python -m pytest tests/python -q
step "Lambda emulator: cargo lambda invoke"
scripts/lambda-smoke.sh
step "SAM template: cfn-lint, sam validate --lint, URL permissions, deployed config (SAM_BUILD=1: sam build)"
scripts/check-template.sh
if [ -x bench/run.sh ]; then
  step "Benchmark, short mode (no timing asserted)"
  bench/run.sh --quick
fi
step "All tests passed"
