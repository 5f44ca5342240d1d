#!/usr/bin/env bash
# The `lex` function under the real Lambda Runtime API emulator: starts the fake Bedrock and
# `cargo lambda watch`, sends every events/lex-*.json with `cargo lambda invoke lex`, and checks
# each answer is a valid Lex V2 response (fulfillment events: Close/Fulfilled with the fake's
# answer and the turn remembered; dialog hooks: Delegate). Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ ! -x .venv/bin/cargo-lambda ]; then
  echo "Installing cargo-lambda into .venv (PyPI)..."
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda
fi
export PATH="$root/.venv/bin:$PATH"

# Build first, so the emulator's own `cargo run` finds everything up to date.
cargo build --quiet -p lex -p gateway-tests --bins

work=$(mktemp -d)
fake_pid=""
watch_pid=""

# Every descendant of a pid (the emulator runs `cargo run`, which runs the function binary).
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

alive() { # running, and not a zombie
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${stat#Z}" = "$stat" ]
}

cleanup() {
  local pids=""
  if [ -n "$watch_pid" ]; then
    pids="$watch_pid $(descendants "$watch_pid")"
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
  fi
  [ -z "$fake_pid" ] || pids="$pids $fake_pid"
  local pid
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local left=""
    for pid in $pids; do alive "$pid" && left="$left $pid"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for pid in $pids; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for <seconds> <command...>
  local tries=$(($1 * 10))
  shift
  for _ in $(seq "$tries"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

target/debug/fake-bedrock --port 0 >"$work/fake.out" 2>&1 &
fake_pid=$!
wait_for 10 grep -q listening "$work/fake.out" || { cat "$work/fake.out"; exit 1; }
fake_url=$(grep -o 'http://[0-9.:]*' "$work/fake.out")

port=$(free_port)
# Static dummy credentials and a fixed region: the SDK signs for the fake and never looks for
# real credentials or instance metadata. `setsid` gives the emulator its own process group.
GATEWAY_CONFIG="$root/config/local.yaml" LITELLM_MASTER_KEY=sk-local \
AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$fake_url" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  setsid cargo lambda watch --quiet --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port" \
  >"$work/watch.out" 2>&1 &
watch_pid=$!
port_open() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.5)" 2>/dev/null; }
wait_for 60 port_open || { cat "$work/watch.out"; echo "cargo lambda watch did not start"; exit 1; }

check() { # check <event file> <output file>
  python3 - "$1" "$2" <<'PY'
import json, sys

event = json.load(open(sys.argv[1]))
out = json.load(open(sys.argv[2]))
state = out["sessionState"]
attributes = state["sessionAttributes"]
assert isinstance(attributes, dict) and all(isinstance(v, str) for v in attributes.values()), attributes
action = state["dialogAction"]["type"]
for message in out.get("messages", []):
    assert message["contentType"] == "PlainText", message
    assert 0 < len(message["content"]) <= 1000, message
if event["invocationSource"] == "DialogCodeHook":
    assert action == "Delegate", out
    assert state["intent"]["name"] == event["sessionState"]["intent"]["name"], out
    assert attributes == event["sessionState"]["sessionAttributes"], out
else:
    assert action == "Close" and state["intent"]["state"] == "Fulfilled", out
    question = event["inputTranscript"].strip()
    assert out["messages"][0]["content"].startswith("Fake answer to: " + question[:20]), out
    history = json.loads(attributes["qa_history"])
    assert history[-1][0] == question, history
print(f"  {action:<9} {state.get('intent', {}).get('state', '-'):<10} {sys.argv[1]}")
PY
}

echo "cargo lambda invoke lex (emulator on 127.0.0.1:$port, fake Bedrock at $fake_url):"
count=0
for event in events/lex-*.json; do
  if ! cargo lambda invoke lex --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$event" >"$work/out.json" 2>"$work/invoke.err"; then
    cat "$work/invoke.err" "$work/watch.out"
    echo "FAILED: cargo lambda invoke lex --data-file $event"
    exit 1
  fi
  check "$event" "$work/out.json" || { cat "$work/out.json"; echo; echo "FAILED: $event"; exit 1; }
  count=$((count + 1))
done
[ "$count" -ge 5 ] || { echo "expected at least 5 lex events, found $count"; exit 1; }
echo "lex smoke test passed: $count events"
