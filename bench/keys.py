#!/usr/bin/env python3
"""What virtual keys with budgets and rate limits cost per request: `bench/run.sh --keys`.

One gateway (release `chat`, bench/config/gateway-keys.yaml) keeps its keys in DynamoDB
(moto_server from .venv, serialized as in the tests, on the driver CPU like the fake Bedrock). In the same interleaved rounds
oha sends the same request directly to the fake Bedrock, through the gateway with the master key
(no DynamoDB call), with a virtual key that has a budget, RPM and TPM limits, and with a virtual
key whose team has them too. Added latency is each target minus direct in the same round.

DynamoDB calls per request are counted from moto's access log (every DynamoDB call is one
`POST /` line) over a sequential batch, after the after-response queue has drained: that total
includes the settlement after the response; the calls before the model call (one) are asserted
by tests/tests/keys_limits.rs.

Writes bench/results/keys.json (keys-quick.json for --quick) and prints a table.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import bench as b

PLANS = {
    "full": dict(rounds=3, seconds=5, warmup_n=1000, count_n=200),
    "quick": dict(rounds=1, seconds=1, warmup_n=100, count_n=20),
}


def start_fake(env: dict, cpus, workdir: Path) -> str:
    fake = b.Proc("fake-bedrock", [str(b.RELEASE / "fake-bedrock"), "--port", "0",
                                   "--latency-ms", "0", "--stream-event-delay-ms", "0"],
                  env, cpus, workdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in fake.log_path.read_text(errors="replace").splitlines():
            if "listening on http://127.0.0.1:" in line:
                return line.split("listening on ", 1)[1].strip()
        if not fake.alive():
            raise RuntimeError(f"fake-bedrock exited:\n{fake.tail()}")
        time.sleep(0.05)
    raise RuntimeError("fake-bedrock did not print its address")


def dynamo_calls(moto: b.Proc) -> int:
    return moto.log_path.read_text(errors="replace").count('"POST / HTTP/1.1"')


def drained(gw_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        q = b.after_response_queue(gw_url)
        if q.get("submitted") == q.get("written", 0) + q.get("failed", 0) + q.get("dropped", 0):
            return
        time.sleep(0.05)
    raise RuntimeError("the after-response queue did not drain")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    pin = (not args.no_pin) and (b.os.cpu_count() or 1) >= 2 and b.shutil.which("taskset")
    server_cpus, driver_cpus = ("0", "1") if pin else (None, None)
    (b.BENCH / ".work").mkdir(exist_ok=True)
    workdir = Path(b.tempfile.mkdtemp(prefix="keys-", dir=str(b.BENCH / ".work")))
    env = {k: v for k, v in b.os.environ.items()
           if not k.startswith(("AWS_", "LITELLM_", "GATEWAY_"))}
    env.update({"BENCH_RUN_ID": b.RUN_ID, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost"})
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    result = {"schema": 1, "mode": mode, "git": b.git_rev(), "machine": b.machine(),
              "pinning": "gateway on CPU 0; fake Bedrock, moto_server, oha on CPU 1" if pin
              else "none", "plan": plan}
    try:
        fake_url = start_fake(env, driver_cpus, workdir)
        moto_port = b.free_port()
        # moto_server serialized (tests/python/moto_serialized.py): moto's own threads break
        # under concurrent writes to one item (500s), which DynamoDB applies atomically.
        moto = b.Proc("moto", [str(b.ROOT / ".venv" / "bin" / "python"),
                               str(b.ROOT / "tests" / "python" / "moto_serialized.py"),
                               str(moto_port)], env, driver_cpus, workdir)
        moto_url = f"http://127.0.0.1:{moto_port}"
        b.wait_http(f"{moto_url}/moto-api/", moto, 60)
        port = b.free_port()
        gw_env = dict(env, PORT=str(port), HOST="127.0.0.1",
                      RUST_LOG=b.os.environ.get("BENCH_GATEWAY_RUST_LOG", "info"),
                      GATEWAY_CONFIG=str(b.BENCH / "config" / "gateway-keys.yaml"),
                      LITELLM_MASTER_KEY=b.MASTER_KEY,
                      AWS_ENDPOINT_URL_BEDROCK_RUNTIME=fake_url,
                      AWS_ENDPOINT_URL_DYNAMODB=moto_url,
                      AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url,
                      GATEWAY_TABLE_NAME="bench-keys", GATEWAY_CREATE_TABLES="1")
        gw = b.Proc("gateway-keys", [str(b.RELEASE / "chat")], gw_env, server_cpus, workdir)
        gw_url = f"http://127.0.0.1:{port}"
        b.wait_http(f"{gw_url}/health", gw, 60)
        master = {"Authorization": f"Bearer {b.MASTER_KEY}", "Content-Type": "application/json"}

        def admin(path: str, body: dict) -> dict:
            status, out = b.http("POST", f"{gw_url}{path}", json.dumps(body).encode(), master)
            if status != 200:
                raise RuntimeError(f"{path}: {status} {out[:300]!r}")
            return json.loads(out)

        limits = {"max_budget": 1_000_000.0, "budget_duration": "30d",
                  "rpm_limit": 10_000_000, "tpm_limit": 10_000_000_000}
        admin("/team/new", dict(limits, team_id="bench-team"))
        vkey = admin("/key/generate", dict(limits, key_alias="bench"))["key"]
        vkey_team = admin("/key/generate", dict(limits, key_alias="bench-team",
                                                team_id="bench-team"))["key"]
        url = f"{gw_url}/v1/chat/completions"
        body, sbody = b.openai_body(False), b.openai_body(True)

        def target(name: str, key: str) -> b.Target:
            return b.Target(name, url, body, "/v1/chat/completions", sbody, "sse",
                            {"Authorization": f"Bearer {key}"}, gw)

        direct = b.Target("direct", f"{fake_url}/model/{b.MODEL_ID_PATH}/converse",
                          b.bedrock_body(), f"/model/{b.MODEL_ID_PATH}/converse-stream",
                          b.bedrock_body(), "eventstream", {}, None)
        targets = [direct, target("master_key", b.MASTER_KEY), target("virtual_key", vkey),
                   target("virtual_key_team", vkey_team)]
        for t in targets:
            b.oha(t, 8, n=plan["warmup_n"], cpus=driver_cpus)
        result["latency"] = {}
        for c in (1, 8):
            ph = b.latency_phase(targets, c, plan, driver_cpus)
            ph["added"] = {t.name: b.added(ph, t.name) for t in targets if t.name != "direct"}
            result["latency"][f"c{c}"] = ph
        calls = {}
        for t in targets[1:]:
            drained(gw_url)
            before = dynamo_calls(moto)
            b.oha(t, 1, n=plan["count_n"], cpus=driver_cpus)
            drained(gw_url)
            time.sleep(0.2)  # moto writes its access line after answering
            calls[t.name] = (dynamo_calls(moto) - before) / plan["count_n"]
        result["dynamodb_calls_per_request_total"] = calls
        result["dynamodb_calls_before_model_call"] = {
            "master_key": 0, "virtual_key": 1, "virtual_key_team": 1,
            "source": "asserted by tests/tests/keys_limits.rs (cached key)"}
    finally:
        b.stop_all()
    out = b.BENCH / "results" / ("keys-quick.json" if args.quick else "keys.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    b.log(f"wrote {out}")
    return 0


def print_table(r: dict) -> None:
    print(f"\nkeys benchmark ({r['mode']}), {r['pinning']}")
    print(f"{'':18} {'c1 p50 +ms':>11} {'c1 p99 +ms':>11} {'c8 p50 +ms':>11} "
          f"{'c8 rps':>9} {'rps/direct':>10} {'DynamoDB calls':>15}")
    c1, c8 = r["latency"]["c1"], r["latency"]["c8"]
    for name in ("master_key", "virtual_key", "virtual_key_team"):
        total = r["dynamodb_calls_per_request_total"].get(name, 0)
        print(f"{name:18} {c1['added'][name]['p50_ms']:11.3f} {c1['added'][name]['p99_ms']:11.3f} "
              f"{c8['added'][name]['p50_ms']:11.3f} {c8[name]['rps']:9.0f} "
              f"{c8[name]['rps'] / c8['direct']['rps']:10.2f} "
              f"{r['dynamodb_calls_before_model_call'][name]} + {total - r['dynamodb_calls_before_model_call'][name]:.2f} after")
    print(f"{'direct':18} c1 p50 {c1['direct']['p50_ms']:.3f} ms, c8 {c8['direct']['rps']:.0f} rps")


if __name__ == "__main__":
    b.signal.signal(b.signal.SIGTERM, b._terminated)
    try:
        code = main()
    except KeyboardInterrupt:
        b.stop_all()
        code = 130
    except Exception as e:
        b.stop_all()
        b.log(f"FAILED: {e}")
        code = 1
    sys.exit(code)
