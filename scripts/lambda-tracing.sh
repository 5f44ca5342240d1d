#!/usr/bin/env bash
# Traces under cargo-lambda's Runtime API emulator, into a real Arize Phoenix: the chat function
# (streaming, as behind the Function URL, and buffered, as behind the ALB) and the lex function
# run with `litellm_settings.callbacks: [arize_phoenix]` on the fake Bedrock. Checked, each
# through Phoenix's REST API: a plain request, a stream, a buffered (ALB) request, a fallback
# (two LLM spans: the failed attempt and the answer), and a two-turn Lex conversation whose
# spans all carry its Lex session id. Then, from the function's own debug log, that every
# invocation's spans were exported before the after-response extension let the sandbox go
# (so before the next invocation).
# Phoenix: PHOENIX_TEST_URL when set (scripts/test.sh starts one), else one started here.
# Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -x .venv/bin/cargo-lambda ] || scripts/bootstrap-python.sh
export PATH="$root/.venv/bin:$PATH"

echo "Building..."
cargo build --quiet -p chat -p lex -p gateway-tests --bins
cargo build --quiet --bin chat
cargo build --quiet --bin lex

. scripts/lib/services.sh

if [ -n "${PHOENIX_TEST_URL:-}" ]; then
  phoenix=$PHOENIX_TEST_URL
else
  read -r phoenix phoenix_pid <<<"$(PHOENIX_STOP_WITH_PID=$$ scripts/phoenix-serve.sh)"
  pids+=("$phoenix_pid")
fi

start_bg "$work/fake.log" target/debug/fake-bedrock --port 0
wait_for_log "$work/fake.log" "listening on" 10 "fake-bedrock"
fake_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/fake.log" | head -n 1)

# config/local.yaml plus a group on the fake's throttle fault that falls back to claude-3-haiku,
# and the Phoenix callback.
config="$work/traced.yaml"
for section in router_settings litellm_settings; do
  if grep -q "^$section:" config/local.yaml; then
    echo "config/local.yaml has a $section section: merge this script's into it" >&2
    exit 1
  fi
done
awk '{ print } /^model_list:[[:space:]]*$/ {
  print "  - model_name: flaky"
  print "    litellm_params:"
  print "      model: bedrock/anthropic.fault-throttle-v1:0"
  print "      aws_region_name: us-east-1"
}' config/local.yaml >"$config"
cat >>"$config" <<YAML

# Added by scripts/lambda-tracing.sh.
router_settings:
  num_retries: 0
  fallbacks: [{flaky: [claude-3-haiku]}]
litellm_settings:
  callbacks: ["arize_phoenix"]
telemetry:
  phoenix_projects: ["lt*"]   # the per-request projects below (run_id starts with lt)
YAML

run_id="lt$$-$RANDOM"
lex_project="$run_id-lex"
export GATEWAY_CONFIG="$config" LITELLM_MASTER_KEY=sk-local-dev-key \
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$fake_url" AWS_ACCESS_KEY_ID=local \
  AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  PHOENIX_COLLECTOR_ENDPOINT="$phoenix" PHOENIX_PROJECT_NAME="$lex_project" \
  RUST_LOG="info,gateway=debug"
unset AWS_SESSION_TOKEN AWS_PROFILE GATEWAY_LAMBDA_MODE PHOENIX_COLLECTOR_HTTP_ENDPOINT

stream_port=$(free_port)
start_bg "$work/watch-streaming.log" \
  cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$stream_port"
buffered_port=$(free_port)
start_bg "$work/watch-buffered.log" env GATEWAY_LAMBDA_MODE=buffered \
  cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$buffered_port"
# Lex in an emulator of its own: the emulator sends INVOKE events to every registered extension,
# and each function's log must hold only its own invocations for the order check.
lex_port=$(free_port)
start_bg "$work/watch-lex.log" \
  cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$lex_port"
wait_for_log "$work/watch-streaming.log" "starting Runtime server" 60 "cargo lambda watch (streaming)"
wait_for_log "$work/watch-buffered.log" "starting Runtime server" 60 "cargo lambda watch (buffered)"
wait_for_log "$work/watch-lex.log" "starting Runtime server" 60 "cargo lambda watch (lex)"

log_of() { # port: that emulator's log
  case $1 in
    "$stream_port") echo "$work/watch-streaming.log" ;;
    "$buffered_port") echo "$work/watch-buffered.log" ;;
    *) echo "$work/watch-lex.log" ;;
  esac
}
released() { # log: how many times the extension let the sandbox go
  grep -c "after-response work written" "$1" 2>/dev/null || true
}
wait_for_release() { # log count-before seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [ "$(released "$1")" -gt "$2" ] && return 0
    sleep 0.1
  done
}

# Lambda hands a function its first invocation only after its extensions have registered and
# asked for their first event. `cargo lambda watch` starts the function on the first invocation
# and may hand that over before the extension asks, so the extension can miss that one event
# (the gateway holds each sandbox for the invocation its event names, so a miss shifts nothing).
# A warm-up invocation per function (an empty event, refused) takes that place.
echo '{}' >"$work/empty.json"
for target in "$stream_port:chat" "$buffered_port:chat" "$lex_port:lex"; do
  port=${target%%:*}
  before=$(released "$(log_of "$port")")
  timeout 180 cargo lambda invoke "${target##*:}" --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$work/empty.json" >/dev/null 2>&1 || true
  wait_for_release "$(log_of "$port")" "$before" 3 || true
done

# An event file with the body's model and a per-request Phoenix project (metadata.project_name).
event() { # source-event model project output
  python3 - "$@" <<'PY'
import json, sys
src, model, project, out = sys.argv[1:]
event = json.load(open(src))
body = json.loads(event["body"])
body["model"] = model
body["metadata"] = {"project_name": project}
event["body"] = json.dumps(body)
json.dump(event, open(out, "w"))
PY
}

# Spans of a project, checked: kind counts, and (for lex) one session id on all of them.
cat >"$work/spans.py" <<'PY'
"""spans.py BASE PROJECT CHAINS LLMS [FAILED_LLMS] [SESSION]: polls Phoenix (Phoenix ingests
asynchronously) until the project holds the spans; prints a summary or fails with a reason."""
import json, sys, time, urllib.request

base, project, chains, llms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
failed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
session = sys.argv[6] if len(sys.argv) > 6 else None
spans = []
for _ in range(50):
    try:
        with urllib.request.urlopen(f"{base}/v1/projects/{project}/spans?limit=1000") as r:
            spans = json.load(r)["data"]
    except Exception:
        spans = []
    if len(spans) >= chains + llms:
        break
    time.sleep(0.2)
kinds = [s["span_kind"] for s in spans]
got = (kinds.count("CHAIN"), kinds.count("LLM"))
if got != (chains, llms):
    sys.exit(f"{got[0]} CHAIN and {got[1]} LLM spans, expected {chains} and {llms}: {json.dumps(spans)[:600]}")
bad = [s for s in spans if s["span_kind"] == "LLM" and s["status_code"] == "ERROR"]
if len(bad) != failed:
    sys.exit(f"{len(bad)} failed LLM spans, expected {failed}")
for s in spans:
    a = s["attributes"]
    if s["span_kind"] == "LLM" and s["status_code"] == "OK":
        if not a.get("llm.token_count.total") or not a.get("output.value", "").startswith("Fake answer"):
            sys.exit(f"an LLM span without tokens or answer: {json.dumps(s)[:600]}")
    if session and a.get("session.id") != session:
        sys.exit(f"a span without session.id {session}: {json.dumps(s)[:400]}")
print(f"{got[0]} CHAIN, {got[1]} LLM ({failed} failed)" + (f", session {session}" if session else ""))
PY

passed=0
failed=0
report() { printf '%-4s  %-16s  %-30s  %s\n' "$1" "$2" "$3" "$4"; if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }
spans_check() { # function what spans.py-args...
  local fn=$1 what=$2 out
  shift 2
  if out=$(python3 "$work/spans.py" "$phoenix" "$@" 2>&1); then report ok "$fn" "$what" "$out"; else report FAIL "$fn" "$what" "$(echo "$out" | head -c 600 | tr '\n' ' ')"; fi
}
invoke() { # port function event-file output-file
  local log before
  log=$(log_of "$1")
  before=$(released "$log")
  timeout 180 cargo lambda invoke "$2" --invoke-address 127.0.0.1 --invoke-port "$1" --data-file "$3" >"$4" 2>"$4.err" || return 1
  # Lambda gives a sandbox its next invocation only once its extensions are done with the last
  # one; the emulator does not wait (an extension still busy misses the next INVOKE event), so
  # wait here, up to 10 s, for this invocation's release.
  wait_for_release "$log" "$before" 10 || true
}
traced() { # port what source-event model llms failed-llms
  local project="$run_id-${2// /-}" file="$work/$run_id-${2// /-}.json"
  event "events/$3" "$4" "$project" "$file"
  if invoke "$1" chat "$file" "$work/${2// /-}.out"; then
    spans_check chat "$2" "$project" 1 "$5" "$6"
  else
    report FAIL chat "$2" "$(cat "$work/${2// /-}.out.err" | head -c 400 | tr '\n' ' ')"
  fi
}

traced "$stream_port" "plain" chat-function-url.json claude-3-sonnet 1 0
traced "$stream_port" "stream" chat-function-url-stream.json claude-3-haiku 1 0
traced "$stream_port" "fallback" chat-function-url.json flaky 2 1
traced "$buffered_port" "buffered alb" chat-alb.json claude-3-sonnet 1 0
traced "$buffered_port" "buffered fallback" chat-alb.json flaky 2 1

# A Lex conversation: the follow-up carries the first turn's session attributes.
session=$(python3 -c 'import json; print(json.load(open("events/lex-first-turn.json"))["sessionId"])')
if invoke "$lex_port" lex events/lex-first-turn.json "$work/lex-1.out"; then
  python3 - "$work/lex-1.out" "$work/lex-2.json" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
event = json.load(open("events/lex-follow-up.json"))
event["sessionState"]["sessionAttributes"] = answer["sessionState"]["sessionAttributes"]
json.dump(event, open(sys.argv[2], "w"))
PY
  if invoke "$lex_port" lex "$work/lex-2.json" "$work/lex-2.out"; then
    spans_check lex "two-turn conversation" "$lex_project" 2 2 0 "$session"
  else
    report FAIL lex "follow-up" "$(head -c 400 "$work/lex-2.out.err" | tr '\n' ' ')"
  fi
else
  report FAIL lex "first turn" "$(head -c 400 "$work/lex-1.out.err" | tr '\n' ' ')"
fi

# Order in each function's log: an invocation's spans are exported before the extension lets
# the sandbox go; the sandbox is let go once per invocation.
order() { # log invocations
  python3 - "$1" "$2" <<'PY'
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], errors="replace").read())
events = [("export" if "trace spans written" in l else "release")
          for l in text.splitlines()
          if "trace spans written" in l or "after-response work written" in l]
# Releases before the first export are the warm-up's (it exports nothing).
while events and events[0] == "release":
    events.pop(0)
releases = events.count("release")
if releases < int(sys.argv[2]):
    sys.exit(f"{releases} sandbox releases logged, expected {sys.argv[2]} (extension registered?)")
# Each invocation exports, then releases: E R E R ...
seq = "".join("E" if e == "export" else "R" for e in events)
if seq != "ER" * int(sys.argv[2]):
    sys.exit(f"exports and releases out of order: {seq}")
print(f"{releases} invocations: spans exported, then the sandbox released ({seq})")
PY
}
for pair in "streaming:3" "buffered:2" "lex:2"; do
  log="$work/watch-${pair%%:*}.log"
  if out=$(order "$log" "${pair##*:}" 2>&1); then report ok "${pair%%:*}" "export before release" "$out"; else report FAIL "${pair%%:*}" "export before release" "$(echo "$out" | head -c 600)"; fi
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
