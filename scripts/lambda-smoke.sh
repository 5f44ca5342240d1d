#!/usr/bin/env bash
# Both Lambda functions under cargo-lambda's Runtime API emulator (`cargo lambda watch`), on the
# fake Bedrock, driven by the sample events in events/:
#   - chat, buffered (GATEWAY_LAMBDA_MODE=buffered, as behind the ALB): every events/chat-*.json
#     through `cargo lambda invoke`; the whole Lambda response (statusCode, body) is checked.
#   - chat, streaming (the default, as behind the Function URL): the events/chat-function-url-*.json
#     through `cargo lambda invoke`. For a streaming function the emulator answers with the streamed
#     body and turns the status of the metadata prelude into its own HTTP status; `cargo lambda
#     invoke` prints the body of a 2xx and fails on anything else ("invalid error payload"), so the
#     status of the non-2xx events is read from the emulator's Invoke API with curl.
#   - chat through the emulator's Function URL path (/lambda-url/chat/...): a streamed request,
#     with the fake pausing between its events, must arrive in pieces and end with `data: [DONE]`.
#   - lex (when functions/lex exists): every events/lex-*.json must get a Lex V2 response.
#   - a second pair of emulators (streaming and buffered chat, and lex) on a config of its own:
#     config/local.yaml plus two stalling models, 1 s stream timeouts and a usage file sink whose
#     every write takes 2 s. Stalled streams must end (error frame, or 504 before the first
#     event); answers must come back long before their usage record is written (the write is
#     after the response, and slow writes do not make requests wait on each other); every request
#     must leave exactly one record in the file; and the emulator must keep answering with the
#     after-response extension registered (an info line says whether it registered).
# Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

[ -x .venv/bin/cargo-lambda ] || scripts/bootstrap-python.sh
export PATH="$root/.venv/bin:$PATH"

have_lex=false
[ -f functions/lex/Cargo.toml ] && have_lex=true

echo "Building..."
# `bench-knobs`: the slow-sink pair below sets usage.simulated_latency_ms, a benchmark knob.
cargo build --quiet -p chat -p gateway-tests --bins --features chat/bench-knobs
# `cargo lambda watch` runs `cargo run --bin <name>` per function: build each the same way, so the
# emulator finds them fresh.
cargo build --quiet --bin chat --features bench-knobs
if $have_lex; then cargo build --quiet --bin lex --features bench-knobs; fi

started=$SECONDS
. scripts/lib/services.sh

# --- The checker: python3, no jq -----------------------------------------------------------------
cat >"$work/check.py" <<'PY'
"""check.py KIND NAME OUTPUT_FILE [STATUS]: prints the status it found, or fails with a reason."""
import base64, json, sys

kind, name, path = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    raw = open(path, encoding="utf-8", errors="replace").read()
except FileNotFoundError:
    print(f"{path}: no such file", file=sys.stderr)
    sys.exit(1)


def fail(msg):
    print(f"{msg}\n--- output ---\n{raw[:1500]}", file=sys.stderr)
    sys.exit(1)


def as_json(text):
    try:
        return json.loads(text)
    except ValueError as e:
        fail(f"not JSON ({e})")


def sse_ok(b):
    if not (b.startswith("data: {") and b.endswith("data: [DONE]\n\n")):
        return False
    events = [e[len("data: "):] for e in b.strip().split("\n\n")]
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return (
        text == "Fake answer to: Explain serverless in one sentence."
        and chunks[-1]["choices"] == []
        and chunks[-1]["usage"]["total_tokens"] > 0
    )


# Same expectations as tests/tests/it/lambda_events.rs: status, body check.
EXPECT = {
    "chat-function-url.json": (200, lambda b: as_json(b)["choices"][0]["message"]["content"] == "Fake answer to: What is Amazon Bedrock?"),
    "chat-function-url-base64.json": (200, lambda b: as_json(b)["choices"][0]["message"]["content"] == "Fake answer to: What is Amazon Bedrock?"),
    "chat-alb.json": (200, lambda b: as_json(b)["choices"][0]["message"]["content"] == "Fake answer to: What is the capital of France?"),
    "chat-function-url-stream.json": (200, sse_ok),
    "chat-alb-stream.json": (200, sse_ok),
    "chat-function-url-models.json": (200, lambda b: as_json(b)["data"][0]["id"] == "claude-3-sonnet"),
    "chat-function-url-no-key.json": (401, lambda b: as_json(b)["error"]["type"] == "authentication_error"),
    "chat-function-url-malformed.json": (400, lambda b: "not valid JSON" in as_json(b)["error"]["message"]),
    "chat-function-url-invalid.json": (400, lambda b: as_json(b)["error"]["param"] == "n"),
    "chat-alb-health.json": (200, lambda b: as_json(b)["status"] == "healthy"),
}


def expectation(name):
    if name not in EXPECT:
        fail(f"events/{name} has no expectation in scripts/lambda-smoke.sh (and tests/tests/it/lambda_events.rs): add one")
    return EXPECT[name]


if kind == "expected-status":  # the status an event must get
    print(expectation(name)[0])
elif kind == "buffered":  # the whole Lambda response as `cargo lambda invoke` prints it
    resp = as_json(raw)
    status, check = expectation(name)
    if resp.get("statusCode") != status:
        fail(f"statusCode {resp.get('statusCode')}, expected {status}")
    body = resp.get("body") or ""
    if resp.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    if not check(body):
        fail("unexpected body")
    if "alb" in name and "statusDescription" not in resp:
        fail("an ALB response needs statusDescription")
    print(status)
elif kind in ("streamed", "streamed-invoke"):  # the streamed body; the status is argv[4]
    status, check = expectation(name)
    if kind == "streamed-invoke":  # `cargo lambda invoke` prints the body plus a newline
        raw = raw[:-1] if raw.endswith("\n") else raw
    got = int(sys.argv[4])
    if got != status:
        fail(f"status {got}, expected {status}")
    if not check(raw):
        fail("unexpected body")
    print(status)
elif kind == "url-stream":  # lines "<epoch seconds> <line>" from curl; argv[4]: minimum spread (s)
    rows = [(float(t), line) for t, line in (l.split(" ", 1) for l in raw.splitlines())]
    data = [(t, l) for t, l in rows if l.startswith("data: ")]
    if not data or data[-1][1] != "data: [DONE]":
        fail("the stream does not end with data: [DONE]")
    if "Fake answer to: Stream me five words please" not in "".join(
        (json.loads(l[6:])["choices"] or [{"delta": {}}])[0]["delta"].get("content") or ""
        for _, l in data[:-1]
    ):
        fail("the streamed text is not the fake's answer")
    spread = data[-1][0] - data[0][0]
    if spread < float(sys.argv[4]):
        fail(f"all {len(data)} events arrived within {spread:.3f}s: not streamed")
    print(f"200 {len(data)} events over {spread:.2f}s")
elif kind == "lex":  # a Lex V2 response; the event file is argv[4]
    event = json.load(open(sys.argv[4]))
    resp = as_json(raw)
    try:
        action = resp["sessionState"]["dialogAction"]["type"]
    except (KeyError, TypeError):
        fail("no sessionState.dialogAction.type")
    if event["invocationSource"] == "FulfillmentCodeHook":
        state = resp["sessionState"].get("intent", {}).get("state")
        messages = resp.get("messages") or []
        if action != "Close" or state != "Fulfilled":
            fail(f"{action}/{state}, expected Close/Fulfilled")
        if not any("Fake answer to:" in (m.get("content") or "") for m in messages):
            fail("no message with the model's answer")
        print(f"{action}/{state}")
    else:
        if action != "Delegate":
            fail(f"{action}, expected Delegate")
        print(action)
elif kind == "calls":  # GET /_fake/calls: total Bedrock calls, compared with argv[4]
    models = as_json(raw)["models"]
    total = sum(m["converse"] + m["converse_stream"] for m in models.values())
    if total != int(sys.argv[4]):
        fail(f"the fake counted {total} Bedrock calls, expected {sys.argv[4]}")
    print(total)
elif kind == "stall-stream":  # a stream that stalls after its first events; argv: status, seconds
    status, seconds = int(sys.argv[4]), float(sys.argv[5])
    if status != 200:
        fail(f"status {status}, expected 200 (the stream had started)")
    data = [e[len("data: "):] for e in raw.strip().split("\n\n") if e.startswith("data: ")]
    if "[DONE]" in data:
        fail("a stalled stream must not end with data: [DONE]")
    if len(data) < 2:
        fail(f"{len(data)} data frames, expected chunks and then the error frame")
    frames = [json.loads(d) for d in data]
    text = "".join(
        (f.get("choices") or [{"delta": {}}])[0]["delta"].get("content") or "" for f in frames[:-1]
    )
    if any("error" in f for f in frames[:-1]) or not text.startswith("Fake"):
        fail(f"the frames before the error are not the fake's first chunks (text {text!r})")
    if (frames[-1].get("error") or {}).get("code") != "upstream_timeout":
        fail("the last frame is not an error frame with code upstream_timeout")
    if seconds >= 10:
        fail(f"the stalled stream took {seconds:.1f}s to end (stream_idle_timeout is 1 s)")
    print(f"200, {len(frames) - 1} chunks ({text!r}) then upstream_timeout, no [DONE], {seconds:.2f}s")
elif kind == "stall-first":  # a stream that never starts; argv: status, seconds
    status, seconds = int(sys.argv[4]), float(sys.argv[5])
    if status != 504:
        fail(f"status {status}, expected 504")
    err = as_json(raw).get("error")
    if not isinstance(err, dict) or set(err) != {"message", "type", "param", "code"}:
        fail("not an OpenAI error body (error: message, type, param, code)")
    if err["code"] != "upstream_timeout" or not err["message"]:
        fail(f"error code {err['code']!r}, expected upstream_timeout")
    if seconds >= 10:
        fail(f"took {seconds:.1f}s (stream_timeout is 1 s)")
    print(f"504 {err['type']}/{err['code']} in {seconds:.2f}s")
elif kind == "timed":  # an answer that must not wait for its usage write; argv: status, ms, limit
    status, ms, limit = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    if name == "lex":
        messages = as_json(raw).get("messages") or []
        if not any("Fake answer to:" in (m.get("content") or "") for m in messages):
            fail("no Lex message with the model's answer")
    else:
        if status != 200:
            fail(f"status {status}, expected 200")
        if not as_json(raw)["choices"][0]["message"]["content"].startswith("Fake answer to:"):
            fail("not the fake's answer")
    if ms >= limit:
        fail(f"answered in {ms:.0f} ms, not under {limit:.0f} ms: the 2000 ms usage write is in the way")
    print(f"{ms:.0f} ms (usage write: 2000 ms)")
elif kind == "usage":  # the usage JSON lines (path) against expectations (argv[4]: one per line)
    # Expectation lines: request_id caller model outcome error_type streamed ('-': none/unknown).
    # Records with a known request_id are matched by it; the rest as a multiset of their fields.
    lines = [l for l in raw.splitlines() if l.strip()]
    try:
        records = [json.loads(l) for l in lines]
    except ValueError as e:
        fail(f"a line is not JSON ({e})")
    expected = [l.split() for l in open(sys.argv[4]) if l.strip()]
    if len(records) != len(expected):
        fail(f"{len(records)} records, expected {len(expected)} (one per request)")
    ids = [r.get("request_id") for r in records]
    if len(set(ids)) != len(ids) or not all(ids):
        fail("request_id missing or not unique")
    fields = lambda r: (r["caller"], r["model"], r["outcome"], r["error_type"] or "-", str(r["streamed"]).lower())
    by_id = {r["request_id"]: r for r in records}
    rest = []
    for rid, *want in expected:
        if rid == "-":
            rest.append(tuple(want))
            continue
        if rid not in by_id:
            fail(f"no record for request {rid}")
        got = fields(by_id.pop(rid))
        if got != tuple(want):
            fail(f"record {rid}: {got}, expected {tuple(want)}")
    got_rest = sorted(fields(r) for r in by_id.values())
    if got_rest != sorted(rest):
        fail(f"records {got_rest}, expected {sorted(rest)}")
    counts = {}
    for r in records:
        key = f"{r['caller']}:{r['outcome']}" + (f"/{r['error_type']}" if r["error_type"] else "")
        counts[key] = counts.get(key, 0) + 1
    print(f"{len(records)} records: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
else:
    fail(f"unknown check {kind}")
PY

passed=0
failed=0
report() { # ok|FAIL function what detail
  printf '%-4s  %-14s  %-38s  %s\n' "$1" "$2" "$3" "$4"
  if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
check() { # function what check.py-args...: runs a check, reports it
  local fn=$1 what=$2 out
  shift 2
  if out=$(python3 "$work/check.py" "$@" 2>"$work/check.err"); then
    report ok "$fn" "$what" "$out"
  else
    report FAIL "$fn" "$what" "$(head -c 600 "$work/check.err" | tr '\n' ' ')"
  fi
}

# --- Fake Bedrock and the two emulators ----------------------------------------------------------
start_bg "$work/fake.log" target/debug/fake-bedrock --port 0
wait_for_log "$work/fake.log" "listening on" 10 "fake-bedrock"
fake_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/fake.log" | head -n 1)
fake() { curl -sS --max-time 5 "$@"; }

# The functions inherit the emulator's environment (cargo lambda adds the AWS_LAMBDA_* variables).
export GATEWAY_CONFIG=config/local.yaml LITELLM_MASTER_KEY=sk-local-dev-key \
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$fake_url" AWS_ACCESS_KEY_ID=local \
  AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE GATEWAY_LAMBDA_MODE

stream_port=$(free_port)
start_bg "$work/watch-streaming.log" \
  cargo lambda watch --ignore-changes --features bench-knobs --invoke-address 127.0.0.1 --invoke-port "$stream_port"
buffered_port=$(free_port)
start_bg "$work/watch-buffered.log" env GATEWAY_LAMBDA_MODE=buffered \
  cargo lambda watch --ignore-changes --features bench-knobs --invoke-address 127.0.0.1 --invoke-port "$buffered_port"

# The slow-sink pair: the same functions on config/local.yaml plus two model groups on the fake's
# stall faults (`fault-stream-stall`: 3 events, then silence with the connection open;
# `fault-stall-before-first-event`: silence from the start), 1 s stream timeouts, and usage
# records to a JSON-lines file in the work dir, each write taking 2 s. The new deployments point
# at the fake like local.yaml's do: a `bedrock/` model in us-east-1, the endpoint coming from
# AWS_ENDPOINT_URL_BEDROCK_RUNTIME. The sections added at the end must not exist in local.yaml
# (a duplicate key would make the YAML invalid).
slow_config="$work/slow-sink.yaml"
usage_file="$work/usage.jsonl"
for section in router_settings usage; do
  if grep -q "^$section:" config/local.yaml; then
    echo "config/local.yaml has a $section section: merge the smoke test's into it" >&2
    exit 1
  fi
done
awk '{ print } /^model_list:[[:space:]]*$/ {
  print "  - model_name: stall"
  print "    litellm_params:"
  print "      model: bedrock/anthropic.fault-stream-stall-v1:0"
  print "      aws_region_name: us-east-1"
  print "  - model_name: stall-first"
  print "    litellm_params:"
  print "      model: bedrock/anthropic.fault-stall-before-first-event-v1:0"
  print "      aws_region_name: us-east-1"
}' config/local.yaml >"$slow_config"
cat >>"$slow_config" <<YAML

# Added by scripts/lambda-smoke.sh.
router_settings:
  stream_timeout: 1
  stream_idle_timeout: 1

usage:
  sink: file
  path: $usage_file
  simulated_latency_ms: 2000
YAML
slow_deployments=$(grep -c '^  - model_name:' "$slow_config")
# `cargo lambda -v`: its debug log shows extensions registering and asking for their next event.
slow_stream_port=$(free_port)
start_bg "$work/watch-slow-streaming.log" env GATEWAY_CONFIG="$slow_config" \
  cargo lambda -v watch --ignore-changes --features bench-knobs --invoke-address 127.0.0.1 --invoke-port "$slow_stream_port"
slow_buffered_port=$(free_port)
start_bg "$work/watch-slow-buffered.log" env GATEWAY_CONFIG="$slow_config" GATEWAY_LAMBDA_MODE=buffered \
  cargo lambda -v watch --ignore-changes --features bench-knobs --invoke-address 127.0.0.1 --invoke-port "$slow_buffered_port"

wait_for_log "$work/watch-streaming.log" "starting Runtime server" 60 "cargo lambda watch (streaming)"
wait_for_log "$work/watch-buffered.log" "starting Runtime server" 60 "cargo lambda watch (buffered)"
wait_for_log "$work/watch-slow-streaming.log" "starting Runtime server" 60 "cargo lambda watch (slow sink, streaming)"
wait_for_log "$work/watch-slow-buffered.log" "starting Runtime server" 60 "cargo lambda watch (slow sink, buffered)"

invoke() { # port function event-file output-file: cargo lambda invoke, output and errors to the file
  timeout 180 cargo lambda invoke "$2" --invoke-address 127.0.0.1 --invoke-port "$1" \
    --data-file "$3" >"$4" 2>"$4.err"
}
show_failure() { # what output-file
  report FAIL "$1" "$2" "$(cat "$3" "$3.err" 2>/dev/null | head -c 600 | tr '\n' ' ')"
}

# Bedrock calls the events make: the answered chat events (not models, health or the errors).
answered() { case $1 in chat-function-url.json | chat-function-url-base64.json | chat-alb.json | \
  chat-function-url-stream.json | chat-alb-stream.json) echo 1 ;; *) echo 0 ;; esac; }

# --- chat, buffered: every chat event --------------------------------------------------------------
fake -X POST "$fake_url/_fake/reset"
expected_calls=0
for file in events/chat-*.json; do
  name=$(basename "$file")
  out="$work/buffered-$name.out"
  if invoke "$buffered_port" chat "$file" "$out"; then
    check chat/buffered "$name" buffered "$name" "$out"
  else
    show_failure chat/buffered "$name" "$out"
  fi
  expected_calls=$((expected_calls + $(answered "$name")))
done
fake "$fake_url/_fake/calls" >"$work/calls.json"
check chat/buffered "Bedrock calls (fake's count)" calls - "$work/calls.json" "$expected_calls"

# --- chat, streaming: the Function URL events ------------------------------------------------------
fake -X POST "$fake_url/_fake/reset"
expected_calls=0
for file in events/chat-function-url*.json; do
  name=$(basename "$file")
  out="$work/streaming-$name.out"
  status=$(python3 "$work/check.py" expected-status "$name" /dev/null) || {
    report FAIL chat/streaming "$name" "no expectation for this event"
    continue
  }
  if [ "$status" -lt 300 ]; then
    if invoke "$stream_port" chat "$file" "$out"; then
      check chat/streaming "$name" streamed-invoke "$name" "$out" 200
    else
      show_failure chat/streaming "$name" "$out"
    fi
  else
    # `cargo lambda invoke` cannot show a non-2xx streamed answer: it must fail, and the
    # emulator's Invoke API (what invoke calls) shows status and body.
    if invoke "$stream_port" chat "$file" "$out"; then
      report FAIL chat/streaming "$name" "cargo lambda invoke succeeded, expected HTTP $status"
    else
      got=$(curl -sS --max-time 60 -o "$out" -w '%{http_code}' -X POST --data-binary "@$file" \
        "http://127.0.0.1:$stream_port/2015-03-31/functions/chat/invocations") || got=000
      check chat/streaming "$name" streamed "$name" "$out" "$got"
    fi
  fi
  expected_calls=$((expected_calls + $(answered "$name")))
done
fake "$fake_url/_fake/calls" >"$work/calls.json"
check chat/streaming "Bedrock calls (fake's count)" calls - "$work/calls.json" "$expected_calls"

# --- chat through the emulator's Function URL ------------------------------------------------------
# With 100 ms between the fake's stream events: the streaming function's chunks arrive spread over
# time as the fake sends them; the buffered one answers the same complete SSE body at once.
url_stream() { # port output-file: a streamed chat through /lambda-url/chat/, each line timestamped
  curl -sS -N --max-time 60 "http://127.0.0.1:$1/lambda-url/chat/v1/chat/completions" \
    -H "Authorization: Bearer $LITELLM_MASTER_KEY" -H 'Content-Type: application/json' \
    -d '{"model":"claude-3-sonnet","stream":true,"stream_options":{"include_usage":true},
         "messages":[{"role":"user","content":"Stream me five words please"}]}' |
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$2" || true
}
fake -X POST "$fake_url/_fake/latency?per_event_ms=100"
url_stream "$stream_port" "$work/url-streaming.out"
url_stream "$buffered_port" "$work/url-buffered.out"
fake -X POST "$fake_url/_fake/latency?per_event_ms=0"
check chat/url "streaming: POST /lambda-url/chat/..." url-stream - "$work/url-streaming.out" 0.3
check chat/url "buffered: POST /lambda-url/chat/..." url-stream - "$work/url-buffered.out" 0

# --- lex --------------------------------------------------------------------------------------------
if $have_lex; then
  for file in events/lex-*.json; do
    name=$(basename "$file")
    out="$work/lex-$name.out"
    if invoke "$stream_port" lex "$file" "$out"; then
      check lex "$name" lex "$name" "$out" "$file"
    else
      show_failure lex "$name" "$out"
    fi
  done
else
  echo "(functions/lex does not exist yet: lex events skipped)"
fi

# --- The slow usage sink and stalled streams (the second emulator pair) ----------------------------
# Every request to this pair leaves one usage record in $usage_file, 2 s after its answer. Each
# request made here adds its expected record to $slow_expected: request_id (from x-request-id;
# `-` when the answer has none: errors, lex) caller model outcome error_type streamed.
info() { # function what detail: a finding, neither passed nor failed
  printf '%-4s  %-14s  %-38s  %s\n' info "$1" "$2" "$3"
}
slow_expected="$work/slow-expected.txt"
: >"$slow_expected"
expect_record() { echo "$*" >>"$slow_expected"; }
slow_log_tail() { # log: its last lines without cargo's build chatter, on one line
  grep -v -e '^ *Fresh ' -e '^ *Compiling ' "$1" | tail -n 8 | cut -c1-300 | tr '\n' ' '
}
slow_chat() { # port model stream(true|false) output-file max-seconds: prints "status seconds"
  local res
  res=$(curl -sS -N --max-time "$5" -D "$4.headers" -o "$4" -w '%{http_code} %{time_total}' \
    "http://127.0.0.1:$1/lambda-url/chat/v1/chat/completions" \
    -H "Authorization: Bearer $LITELLM_MASTER_KEY" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$2\",\"stream\":$3,\"messages\":[{\"role\":\"user\",\"content\":\"Stream me five words please\"}]}" \
    2>"$4.err") || true
  echo "${res:-000 $5}"
}
request_id() { # output-file of slow_chat: the answer's x-request-id, or -
  local id
  id=$(tr -d '\r' <"$1.headers" 2>/dev/null | awk 'tolower($1) == "x-request-id:" { print $2 }' | tail -n 1) || true
  echo "${id:--}"
}
ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; } # seconds -> whole milliseconds
slow_lex() { # output-file max-seconds: lex-first-turn through cargo lambda invoke; prints "rc ms"
  local t0 rc=0
  t0=$(date +%s%N)
  timeout "$2" cargo lambda invoke lex --invoke-address 127.0.0.1 --invoke-port "$slow_stream_port" \
    --data-file events/lex-first-turn.json >"$1" 2>"$1.err" || rc=$?
  echo "$rc $((($(date +%s%N) - t0) / 1000000))"
}
usage_lines() { if [ -f "$usage_file" ]; then grep -c . "$usage_file" || true; else echo 0; fi; }
wait_for_records() { # count seconds: until the usage file has that many lines; prints the wait (s)
  local t0 i
  t0=$(date +%s%N)
  for ((i = 0; i < $2 * 10; i++)); do
    [ "$(usage_lines)" -ge "$1" ] && break
    sleep 0.1
  done
  awk -v ns="$(($(date +%s%N) - t0))" 'BEGIN { printf "%.1f", ns / 1e9 }'
}
fast_ms=1500 # an answer must not include the sink's 2000 ms

for mode in streaming buffered; do
  fn=slow/$mode
  if [ "$mode" = streaming ]; then port=$slow_stream_port; else port=$slow_buffered_port; fi
  log="$work/watch-slow-$mode.log"

  # First request: starts the function (cargo lambda builds it if the sources changed since the
  # build above), so it is not timed. It answers only if the function accepted the merged config.
  out="$work/slow-$mode-first.out"
  read -r code secs <<<"$(slow_chat "$port" claude-3-sonnet false "$out" 180)"
  if [ "$code" != 200 ]; then
    report FAIL "$fn" "config accepted, first answer" "HTTP $code; log: $(slow_log_tail "$log")"
  elif grep -q '"message":"config: ' "$log"; then
    report FAIL "$fn" "config accepted, first answer" "$(grep -m 3 '"message":"config: ' "$log" | cut -c1-300 | tr '\n' ' ')"
  elif ! grep -q "\"deployments\":$slow_deployments\b" "$log"; then
    report FAIL "$fn" "config accepted, first answer" "no \"deployments\":$slow_deployments in the log"
  else
    report ok "$fn" "config accepted, first answer" "200, $slow_deployments deployments, no config warnings"
  fi
  expect_record "$(request_id "$out")" api claude-3-sonnet success - false

  # A stream that stalls after 3 events: the chunks so far, then an error frame, and no [DONE]
  # (the stream is cut short: a client must not take it for a whole answer), after ~1 s
  # (stream_idle_timeout) instead of never.
  out="$work/slow-$mode-stall.out"
  read -r code secs <<<"$(slow_chat "$port" stall true "$out" 30)"
  check "$fn" "stalled stream: error frame, no [DONE]" stall-stream - "$out" "$code" "$secs"
  expect_record "$(request_id "$out")" api stall failure provider.timeout.idle true

  # A stream that never starts: the gateway gives up after stream_timeout (1 s), before it has
  # sent a byte, so even the streaming function answers a plain 504 with OpenAI's error body: the
  # status goes into the metadata prelude of the streamed response, and the emulator turns it into
  # its own HTTP status as a Function URL does (seen: 504 in both modes, so 504 is asserted).
  out="$work/slow-$mode-stall-first.out"
  read -r code secs <<<"$(slow_chat "$port" stall-first true "$out" 30)"
  check "$fn" "stall before the first event: 504" stall-first - "$out" "$code" "$secs"
  expect_record "$(request_id "$out")" api stall-first failure provider.timeout.first_event true

  # A whole answer, timed: well under the 2000 ms its usage write takes, so the write is after
  # the response. Then three back to back: none waits for the writes of the ones before.
  for what in "answer before its usage write" "back to back 1/3" "back to back 2/3" "back to back 3/3"; do
    out="$work/slow-$mode-timed-${what//[ \/]/-}.out"
    read -r code secs <<<"$(slow_chat "$port" claude-3-sonnet false "$out" 30)"
    check "$fn" "$what" timed chat "$out" "$code" "$(ms "$secs")" "$fast_ms"
    expect_record "$(request_id "$out")" api claude-3-sonnet success - false
  done
done

if $have_lex; then
  # lex runs in the slow streaming emulator (it reads the same GATEWAY_CONFIG): a first start,
  # then timed invocations, each through `cargo lambda invoke` (its own start is in the time).
  out="$work/slow-lex-first.out"
  read -r rc took <<<"$(slow_lex "$out" 180)"
  if [ "$rc" = 0 ]; then
    check slow/lex "first answer" lex lex-first-turn.json "$out" events/lex-first-turn.json
  else
    show_failure slow/lex "first answer" "$out"
  fi
  expect_record - lex claude-3-sonnet success - false
  for what in "answer before its usage write" "back to back 1/3" "back to back 2/3" "back to back 3/3"; do
    out="$work/slow-lex-timed-${what//[ \/]/-}.out"
    read -r rc took <<<"$(slow_lex "$out" 30)"
    if [ "$rc" = 0 ]; then
      check slow/lex "$what" timed lex "$out" 200 "$took" "$fast_ms"
    else
      show_failure slow/lex "$what" "$out"
    fi
    expect_record - lex claude-3-sonnet success - false
  done
fi

# Every request's record arrives, once, about 2 s after the last answer: sooner would mean the
# sink is not slow at all, and the timings above would prove nothing.
want=$(grep -c . "$slow_expected")
waited=$(wait_for_records "$want" 15)
if out=$(python3 "$work/check.py" usage - "$usage_file" "$slow_expected" 2>"$work/check.err"); then
  if awk -v w="$waited" 'BEGIN { exit !(w >= 1.5) }'; then
    report ok slow/usage "one record per request" "$out (complete ${waited}s after the last answer)"
  else
    report FAIL slow/usage "one record per request" "complete ${waited}s after the last answer: is the 2000 ms simulated_latency_ms applied?"
  fi
else
  report FAIL slow/usage "one record per request" "after ${waited}s: $(head -c 600 "$work/check.err" | tr '\n' ' ')"
fi

# The after-response extension. cargo lambda's emulator has an Extensions API (register, next):
# the gateway registers its internal extension there, and it gets the INVOKE events. Unlike Lambda,
# the emulator neither waits for extensions before the next invocation nor freezes anything, and
# it drops an INVOKE event for an extension that is not waiting for one (still holding for an
# earlier invocation), and it sends every INVOKE to every extension registered with it, whichever
# function it belongs to (chat's extension gets lex's invocations). So here the extension cannot
# delay anything, and its one-hold-per-invocation pairing is loose; it can only fail to register
# (the gateway then logs a warning and writes in the background) or stop asking for events.
# Seen with cargo-lambda 1.9.2: it registers (no warning; `registering extension` in the -v log).
slow_logs=("$work/watch-slow-streaming.log" "$work/watch-slow-buffered.log")
not_registered=$(cat "${slow_logs[@]}" | grep -c 'after-response extension not registered' || true)
registered=$(cat "${slow_logs[@]}" | grep -c 'registering extension' || true)
functions_started=$(cat "${slow_logs[@]}" | grep -c 'Running `target/debug/' || true)
if [ "$not_registered" -gt 0 ]; then
  info slow/extension "after-response extension" \
    "NOT registered in $not_registered of $functions_started function starts: $(grep -h -m 1 'after-response extension not registered' "${slow_logs[@]}" | cut -c1-300)"
else
  info slow/extension "after-response extension" \
    "registered in cargo lambda ($registered registrations for INVOKE, $functions_started function starts); asked for its next event $(cat "${slow_logs[@]}" | grep -c 'extension waiting for next event' || true) times"
fi

# An event the handler never sees (`{}` is no HTTP event: lambda_http refuses it before the
# router) must still end the extension's hold: the runtime layer signals every invocation's end.
# Before that fix, the extension waited for a signal that never came.
for mode in streaming buffered; do
  if [ "$mode" = streaming ]; then port=$slow_stream_port; else port=$slow_buffered_port; fi
  log="$work/watch-slow-$mode.log"
  before=$(grep -c 'extension waiting for next event' "$log" || true)
  curl -sS --max-time 10 -o /dev/null -X POST --data '{}' \
    "http://127.0.0.1:$port/2015-03-31/functions/chat/invocations" || true
  now=$before
  for _ in $(seq 50); do
    now=$(grep -c 'extension waiting for next event' "$log" || true)
    [ "$now" -gt "$before" ] && break
    sleep 0.1
  done
  if [ "$now" -gt "$before" ]; then
    report ok "slow/$mode" "unparseable event: hold released" "extension asked for its next event"
  else
    report FAIL "slow/$mode" "unparseable event: hold released" "no 'extension waiting for next event' within 5 s"
  fi
done

# With every record written, each extension has finished holding and asks for its next event:
# the emulator must go on answering, at once, with the extension registered.
for mode in streaming buffered; do
  if [ "$mode" = streaming ]; then port=$slow_stream_port; else port=$slow_buffered_port; fi
  out="$work/slow-$mode-after.out"
  read -r code secs <<<"$(slow_chat "$port" claude-3-sonnet false "$out" 10)"
  check "slow/$mode" "answered after the writes" timed chat "$out" "$code" "$(ms "$secs")" "$fast_ms"
  expect_record "$(request_id "$out")" api claude-3-sonnet success - false
done
if $have_lex; then
  out="$work/slow-lex-after.out"
  read -r rc took <<<"$(slow_lex "$out" 10)"
  if [ "$rc" = 0 ]; then
    check slow/lex "answered after the writes" timed lex "$out" 200 "$took" "$fast_ms"
  else
    show_failure slow/lex "answered after the writes" "$out"
  fi
  expect_record - lex claude-3-sonnet success - false
fi
want=$(grep -c . "$slow_expected")
waited=$(wait_for_records "$want" 15)
sleep 0.5 # a duplicate would come with the others
check slow/usage "and those records, no more" usage - "$usage_file" "$slow_expected"

echo "$passed passed, $failed failed ($((SECONDS - started)) s after the build)"
if [ "$failed" -ne 0 ]; then
  echo "--- emulator logs (last lines) ---"
  tail -n 15 "$work/watch-streaming.log" "$work/watch-buffered.log" | cut -c1-400
  for log in "$work/watch-slow-streaming.log" "$work/watch-slow-buffered.log"; do
    echo "==> $log <=="
    grep -v -e '^ *Fresh ' -e '^ *Compiling ' -e '^DEBUG' "$log" | tail -n 15 | cut -c1-400
  done
  exit 1
fi
