#!/usr/bin/env bash
# template.yaml, checked offline (CI runs this from scripts/test.sh):
#   1. cfn-lint and `sam validate --lint` (both templates: template.yaml, deploy/sam-local.yaml);
#   2. the transformed template (SAM's own translator) grants both lambda:InvokeFunctionUrl and
#      lambda:InvokeFunction for the Function URL in each URL mode (deploy/check_transformed.py);
#      the guardrail's and bot's version resources carry the hash of their source
#      (deploy/version_ids.py --check, and its tests deploy/test_version_ids.py);
#   3. the deployed config (deploy/config/gateway.yaml, the layer's file) with the variables the
#      template sets, under cargo-lambda's Runtime API emulator on the fake Bedrock and a local
#      moto_server for the table: the events in events/ get answers from both functions, and
#      both answers' usage records reach the table;
#   4. `sam build` with samconfig.toml's Architecture (arm64; SAM_ARCH=x86_64 overrides), and the
#      built artifacts (two bootstraps of that architecture's ELF machine, the config layer's
#      file). arm64 needs the aarch64 Rust target (added here with rustup) and zig, which
#      cargo-lambda's PyPI package brings (ziglang, in the sam venv). cargo-lambda builds with its own --target
#      and flags, so nothing is shared with the test build; its target directory is cached
#      outside the clone (~/.cache/llm-gateway/sam-target): the first run on a machine compiles
#      everything (~13 CPU-minutes), later runs the workspace crates only. SAM_BUILD=0 skips it.
# The wiring test that reads the template against the code is Rust: tests/tests/it/sam_template.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

build=${SAM_BUILD:-1}
[ "${1:-}" = --build ] && build=1

venv=$(scripts/bootstrap-sam.sh)
export PATH="$venv/bin:$PATH" SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
step() { printf -- "--- %s (at %ss)\n" "$*" "$SECONDS"; }

step "cfn-lint"
cfn-lint template.yaml deploy/sam-local.yaml
step "sam validate --lint"
sam validate --lint --template template.yaml
sam validate --lint --template deploy/sam-local.yaml
step "transformed template: Function URL permissions"
python deploy/check_transformed.py template.yaml 2>&1 | grep -v 'unpublished metrics'

step "version resources follow their source (deploy/version_ids.py)"
python deploy/version_ids.py --check
python deploy/test_version_ids.py 2>&1 | tail -n 1

step "deployed config under the Lambda emulator (cargo lambda), on the fake Bedrock"
cargo build --quiet -p gateway-tests --bin fake-bedrock
cargo build --quiet --bin chat
cargo build --quiet --bin lex
. scripts/lib/services.sh

start_bg "$work/fake.log" target/debug/fake-bedrock --port 0
wait_for_log "$work/fake.log" "listening on" 10
fake_url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/fake.log" | head -n 1)
# The template's table and its DynamoDB calls (keys, limits, usage records) go to a local
# moto_server, where the gateway creates the table at start (GATEWAY_CREATE_TABLES=1).
[ -x .venv/bin/moto_server ] || scripts/bootstrap-python.sh
moto_port=$(free_port)
start_bg "$work/moto.log" .venv/bin/moto_server -H 127.0.0.1 -p "$moto_port"
for _ in $(seq 300); do
  (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break
  sleep 0.1
done
moto_url="http://127.0.0.1:$moto_port"

# What the template sets (stack values replaced by local ones; GATEWAY_CONFIG is the layer's
# file as it sits in the repository), plus what only a local run needs: the fake's endpoint,
# dummy credentials and a master key (the deployed one comes from Secrets Manager).
env_file="$work/env"
python3 - "$root/deploy/config" >"$env_file" <<'PY'
import re, sys
text = open("template.yaml").read()
globals_env = text.split("    Environment:\n      Variables:\n", 1)[1].split("\nResources:", 1)[0]
names = re.findall(r"^        ([A-Z][A-Z0-9_]+):", globals_env, re.M)
local = {
    "GATEWAY_CONFIG": sys.argv[1] + "/gateway.yaml",
    "GATEWAY_TABLE_NAME": "llm-gateway-local",
    "GATEWAY_USAGE_AGGREGATION": "stream",
    "GATEWAY_MASTER_KEY_SECRET_ID": "",
    "GATEWAY_GUARDRAIL_ID": "local-guardrail",
    "GATEWAY_GUARDRAIL_VERSION": "1",
    "GATEWAY_METRICS_NAMESPACE": "LlmGateway",
    "PHOENIX_COLLECTOR_HTTP_ENDPOINT": "",
    "PHOENIX_PROJECT_NAME": "llm-gateway",
    "PHOENIX_API_KEY_SECRET_ID": "",
    "RUST_LOG": "info",
}
missing = [n for n in names if n not in local]
if missing:
    sys.exit(f"check-template.sh: give these template variables a local value: {missing}")
for name in names:
    print(f"{name}={local[name]}")
PY
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
export LITELLM_MASTER_KEY=sk-local-dev-key AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$fake_url" \
  AWS_ENDPOINT_URL_DYNAMODB="$moto_url" AWS_ENDPOINT_URL_SECRETS_MANAGER="$moto_url" \
  GATEWAY_CREATE_TABLES=1 \
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true GATEWAY_LAMBDA_MODE=buffered
unset AWS_SESSION_TOKEN AWS_PROFILE
port=$(free_port)
start_bg "$work/watch.log" \
  cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$port"
failed=0
invoke() { # function event jq-free python check
  local fn=$1 event=$2 check=$3 out="$work/$2.out"
  # The events name the seed's model group; the deployed config's Lex/cheap group answers here.
  sed 's/claude-3-sonnet/claude-haiku/g' "events/$event" >"$work/event-$event"
  if cargo lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$work/event-$event" >"$out" 2>&1 && python3 -c "$check" "$out"; then
    echo "ok    $fn  events/$event"
  else
    echo "FAIL  $fn  events/$event: $(head -c 600 "$out")"
    failed=$((failed + 1))
  fi
}
# The first invoke builds nothing (binaries are fresh) but waits for the emulator to listen.
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
invoke chat chat-alb.json 'import json,sys; r=json.load(open(sys.argv[1])); b=json.loads(r["body"]); assert r["statusCode"]==200 and b["choices"][0]["message"]["content"]=="Fake answer to: What is the capital of France?", r'
invoke chat chat-alb-health.json 'import json,sys; r=json.load(open(sys.argv[1])); assert r["statusCode"]==200, r'
invoke lex lex-first-turn.json 'import json,sys; r=json.load(open(sys.argv[1])); assert r["sessionState"]["intent"]["state"]=="Fulfilled" and r["messages"][0]["content"].startswith("Fake answer to:"), r'
# Both answers' usage records reached the template's table (written after the responses).
if .venv/bin/python - "$moto_url" "$GATEWAY_TABLE_NAME" <<'PY'; then
import sys, time, boto3
table = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
                     aws_access_key_id="local", aws_secret_access_key="local")
for _ in range(100):
    items = table.scan(TableName=sys.argv[2])["Items"]
    callers = sorted(i["caller"]["S"] for i in items if i["pk"]["S"].startswith("REQ#"))
    if "api" in callers and "lex" in callers:
        print(f"ok    usage records in {sys.argv[2]}: {callers}")
        sys.exit(0)
    time.sleep(0.1)
sys.exit(f"FAIL  usage records in {sys.argv[2]}: {callers}")
PY
  :
else
  failed=$((failed + 1))
fi
echo "emulator checks done at ${SECONDS}s"

step "post-deploy check (deploy/post_deploy_check.py) against the local server and the emulator's Lex"
# The same command a user runs after `sam deploy`, here on the chat function as a local server
# (same config, table in moto, fake Bedrock) and the Lex function under the emulator above.
api_port=$(free_port)
export PORT=$api_port
start_bg "$work/api.log" target/debug/chat
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null && break
  sleep 0.1
done
if python3 deploy/post_deploy_check.py --url "http://127.0.0.1:$api_port" \
  --master-key "$LITELLM_MASTER_KEY" --lex-invoke-url "http://127.0.0.1:$port" --no-bedrock; then
  :
else
  failed=$((failed + 1))
  echo "--- local server log"; tail -n 20 "$work/api.log"
fi
if [ "$failed" -gt 0 ]; then
  echo "--- emulator log"; tail -n 40 "$work/watch.log"
  exit 1
fi

if [ "$build" = 1 ]; then
  arch=${SAM_ARCH:-$(python3 -c 'import re,sys; print(re.search(r"Architecture=(\w+)", open("samconfig.toml").read().split("[default.build.parameters]")[1]).group(1))')}
  step "sam build ($arch)"
  if [ "$arch" = arm64 ]; then
    rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
      rustup target add aarch64-unknown-linux-gnu
  fi
  out="$root/.aws-sam/build"
  started=$SECONDS
  # cargo-lambda builds with its own target and flags, so nothing of the test build is reused; its
  # target directory is kept outside the clone (like the other heavy tools), so only the first
  # run on a machine compiles the dependencies (~13 CPU-minutes), later ones the workspace only.
  CARGO_TARGET_DIR="${SAM_TARGET_DIR:-$HOME/.cache/llm-gateway/sam-target}" \
    sam build --beta-features --parameter-overrides "Architecture=$arch" --build-dir "$out" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log"; exit 1; }
  # The built template names each function's artifact folder (functions with the same code share
  # one, e.g. ChatFunction-Shared) and the layer's folder (SAM packages it as it is).
  python "$root/deploy/check_built.py" "$out/template.yaml" "$arch"
  echo "sam build ($arch): ok in $((SECONDS - started)) s"
fi
echo "template checks passed"
