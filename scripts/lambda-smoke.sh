#!/usr/bin/env bash
# Both Lambda functions under cargo lambda's Runtime API emulator, on the fake Bedrock, driven by
# the sample events in events/: the checks are tests/python/test_lambda_emulator.py (scripts/test.sh
# runs them with the rest of tests/python). This only makes sure the Python tools exist and runs
# that module; extra arguments go to pytest (e.g. `-k slow`, `-x`, `-v`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/cargo-lambda ] || scripts/bootstrap-python.sh
exec .venv/bin/python -m pytest tests/python/test_lambda_emulator.py -q "$@"
