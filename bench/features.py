#!/usr/bin/env python3
"""Every feature on, measured at steady state, against LiteLLM: `bench/run.sh --features`.

Four servers on the same pinned CPU, in the same interleaved rounds, beside the direct call to
the fake Bedrock:

- `gateway`: bench/config/gateway.yaml (the seed-style config: master key, cost-based routing
  over two deployments, usage records to the log sink with the default memory copy);
- `gateway_features`: bench/config/gateway-features.yaml: the same plus a `pre_call` and a
  `post_call` Bedrock guardrail (fake ApplyGuardrail), traces to a stand-in OTLP collector,
  and every request made with a virtual key that has a budget and RPM/TPM limits (memory
  key store, made through /key/generate);
- `litellm`: bench/config/litellm.yaml.in (the seed-style config);
- `litellm_features`: bench/config/litellm-features.yaml.in: two deployments with
  cost-based-routing, the same Bedrock guardrail `pre_call` and `post_call` on the same fake,
  `arize_phoenix` traces to the same kind of collector; the master key (LiteLLM's virtual keys
  need Postgres; see BENCHMARKS.md for what else is not like-for-like).

Steady state: every gateway is warmed up with more requests than its memory copy of usage
records keeps (`usage.keep_records`), and the run checks `kept_usage_records` in
GET /health/readiness says the copy is full before it measures; after the rounds, the
features-on gateway answers GROWTH_N more requests (200,000 in a full run) in two halves and the
RSS after each half is reported (peak RSS, and no growth over the second half).

Writes bench/results/features.json and .md (features-quick.* for --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import bench as b

PLANS = {
    "full": dict(rounds=3, seconds=5, stream_n=200, growth_n=200_000, litellm_warmup=300),
    "quick": dict(rounds=1, seconds=1, stream_n=20, growth_n=4_000, litellm_warmup=30),
}
# The gateway's default `usage.keep_records` (README); quick runs keep fewer so they fill fast.
KEEP_RECORDS = {"full": 10_000, "quick": 500}


def kept(gw_url: str) -> dict | None:
    status, body = b.http("GET", f"{gw_url}/health/readiness")
    if status != 200:
        raise RuntimeError(f"readiness {status}")
    return json.loads(body).get("kept_usage_records")


def warm_to_steady_state(t: b.Target, gw_url: str, keep: int, cpus) -> dict:
    """More requests than the memory copy keeps, then proof that it is full."""
    b.oha(t, 8, n=keep + 2_000, cpus=cpus)
    b.drained_queue(gw_url, 30)
    k = kept(gw_url)
    if not k or k["limit"] != keep or k["len"] != keep:
        raise RuntimeError(f"{t.name}: kept usage records {k}, wanted {keep} of {keep}: "
                           "not at steady state")
    b.log(f"{t.name}: steady state, kept usage records {k['len']} of {k['limit']}")
    return k


def with_keep_records(src: Path, dst: Path, keep: int) -> Path:
    text = src.read_text()
    if "\nusage:\n" not in text:
        raise RuntimeError(f"{src} has no usage section")
    dst.write_text(text.replace("\nusage:\n", f"\nusage:\n  keep_records: {keep}\n", 1))
    return dst


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--gateway-bin", default=str(b.RELEASE / "chat"),
                    help="the gateway binary measured (default: target/release/chat)")
    ap.add_argument("--baseline", default="",
                    help="a second gateway binary (a build before a change) measured with the "
                         "features-on config in the same interleaved rounds, as "
                         "gateway_features_baseline")
    ap.add_argument("--rounds", type=int, help="override the plan's interleaved rounds")
    ap.add_argument("--growth-n", type=int, help="override the plan's memory-growth requests")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    plan, keep = dict(PLANS[mode]), KEEP_RECORDS[mode]
    if args.rounds:
        plan["rounds"] = args.rounds
    if args.growth_n:
        plan["growth_n"] = args.growth_n
    pin = (not args.no_pin) and (b.os.cpu_count() or 1) >= 2 and b.shutil.which("taskset")
    server_cpus, driver_cpus = ("0", "1") if pin else (None, None)
    (b.BENCH / ".work").mkdir(exist_ok=True)
    workdir = Path(b.tempfile.mkdtemp(prefix="features-", dir=str(b.BENCH / ".work")))
    env = {k: v for k, v in b.os.environ.items()
           if not k.startswith(("AWS_", "LITELLM_", "GATEWAY_", "PHOENIX_"))}
    env.update({"BENCH_RUN_ID": b.RUN_ID, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    result = {"schema": 1, "mode": mode, "git": b.git_rev(), "machine": b.machine(),
              "pinning": "servers on CPU 0; fake Bedrock, oha, bench-client on CPU 1" if pin
              else "none", "plan": plan, "keep_records": keep,
              "started_at": b.dt.datetime.now(b.dt.timezone.utc).isoformat(timespec="seconds")}
    steal0, wall0 = b.steal_ticks(), time.monotonic()
    try:
        fake_url = _start_fake(env, driver_cpus, workdir)
        collector = b.Collector(0)
        rust_log = b.os.environ.get("BENCH_GATEWAY_RUST_LOG", "info")
        result["gateway_rust_log"] = rust_log

        def gateway(tag: str, config: Path, binary: str = args.gateway_bin
                    ) -> tuple[b.Proc, str]:
            port = b.free_port()
            gw_env = dict(env, PORT=str(port), HOST="127.0.0.1", RUST_LOG=rust_log,
                          GATEWAY_CONFIG=str(config), LITELLM_MASTER_KEY=b.MASTER_KEY,
                          AWS_ENDPOINT_URL_BEDROCK_RUNTIME=fake_url,
                          PHOENIX_COLLECTOR_ENDPOINT=collector.url)
            proc = b.Proc(f"gateway-{tag}", [binary], gw_env, server_cpus, workdir)
            url = f"http://127.0.0.1:{port}"
            b.wait_http(f"{url}/health", proc, 30)
            return proc, url

        seed_cfg = with_keep_records(b.BENCH / "config" / "gateway.yaml",
                                     workdir / "gateway.yaml", keep)
        feat_cfg = with_keep_records(b.BENCH / "config" / "gateway-features.yaml",
                                     workdir / "gateway-features.yaml", keep)
        gw, gw_url = gateway("seed", seed_cfg)
        gwf, gwf_url = gateway("features", feat_cfg)
        master = {"Authorization": f"Bearer {b.MASTER_KEY}"}
        limits = {"max_budget": 1_000_000.0, "budget_duration": "30d",
                  "rpm_limit": 10_000_000, "tpm_limit": 10_000_000_000, "key_alias": "bench"}

        def virtual_key(url: str) -> str:
            status, out = b.http("POST", f"{url}/key/generate", json.dumps(limits).encode(),
                                 dict(master, **{"Content-Type": "application/json"}))
            if status != 200:
                raise RuntimeError(f"/key/generate: {status} {out[:300]!r}")
            return json.loads(out)["key"]
        vkey = virtual_key(gwf_url)

        def chat(name: str, url: str, headers: dict, proc) -> b.Target:
            return b.Target(name, f"{url}/v1/chat/completions", b.openai_body(False),
                            "/v1/chat/completions", b.openai_body(True), "sse", headers, proc)

        direct = b.Target("direct", f"{fake_url}/model/{b.MODEL_ID_PATH}/converse",
                          b.bedrock_body(), f"/model/{b.MODEL_ID_PATH}/converse-stream",
                          b.bedrock_body(), "eventstream", {}, None)
        gateway_t = chat("gateway", gw_url, master, gw)
        features_t = chat("gateway_features", gwf_url, {"Authorization": f"Bearer {vkey}"}, gwf)
        targets = [direct, gateway_t, features_t]
        if args.baseline:
            gwb, gwb_url = gateway("baseline", feat_cfg, args.baseline)
            baseline_t = chat("gateway_features_baseline", gwb_url,
                              {"Authorization": f"Bearer {virtual_key(gwb_url)}"}, gwb)
            targets.append(baseline_t)
            result["baseline_binary"] = args.baseline
        first_litellm = len(targets)

        lls = []
        if not args.no_litellm:
            for name, template in (("litellm", "litellm.yaml.in"),
                                   ("litellm_features", "litellm-features.yaml.in")):
                lls.append(_start_litellm(name, template, env, fake_url, collector.url,
                                          server_cpus, workdir))
            result["litellm_version"] = b.tool_version(
                [str(b.BENCH / ".venv-litellm" / "bin" / "python"), "-c",
                 "import importlib.metadata as m; print(m.version('litellm'))"])
            for name, (proc, url) in zip(("litellm", "litellm_features"), lls):
                targets.append(chat(name, url, master, proc))

        # Every target answers through the fake; the features-on ones call ApplyGuardrail too.
        for t in targets:
            before = b.fake_calls(fake_url)
            status, body = b.http("POST", t.url, t.body,
                                  {"Content-Type": "application/json", **t.headers}, timeout=60)
            if status != 200 or b.fake_calls(fake_url) <= before:
                raise RuntimeError(f"{t.name} did not answer through the fake: {status} "
                                   f"{body[:300]!r}")
            t.answered += 1
        guard0 = _guardrail_calls(fake_url)
        b.oha(features_t, 1, n=10, cpus=driver_cpus)
        result["gateway_features_guardrail_calls_per_request"] = \
            (_guardrail_calls(fake_url) - guard0) / 10
        for t in targets[3:]:
            guard0 = _guardrail_calls(fake_url)
            b.oha(t, 1, n=10, cpus=driver_cpus)
            result[f"{t.name}_guardrail_calls_per_request"] = \
                (_guardrail_calls(fake_url) - guard0) / 10
        b.log(f"ApplyGuardrail calls per request: "
              f"{ {k: v for k, v in result.items() if k.endswith('_guardrail_calls_per_request')} }")

        # Steady state before measuring.
        result["steady_state"] = {
            "gateway": warm_to_steady_state(gateway_t, gw_url, keep, driver_cpus),
            "gateway_features": warm_to_steady_state(features_t, gwf_url, keep, driver_cpus)}
        if args.baseline:
            result["steady_state"]["gateway_features_baseline"] = warm_to_steady_state(
                baseline_t, gwb_url, keep, driver_cpus)
        b.oha(direct, 8, n=2_000, cpus=driver_cpus)
        for t in targets[first_litellm:]:
            b.oha(t, 8, n=plan["litellm_warmup"], cpus=driver_cpus)

        result["latency"] = {}
        for c in (1,):
            ph = b.latency_phase(targets, c, plan, driver_cpus)
            ph["added"] = {t.name: b.added(ph, t.name) for t in targets if t.name != "direct"}
            result["latency"][f"c{c}"] = ph
        tp = b.latency_phase(targets, 64, plan, driver_cpus)
        result["throughput_c64"] = tp

        b.http("POST", f"{fake_url}/_fake/latency?per_event_ms=5")
        st = {t.name: b.ttfb(t, plan["stream_n"], max(2, plan["stream_n"] // 10), driver_cpus)
              for t in targets}
        b.http("POST", f"{fake_url}/_fake/latency?per_event_ms=0")
        st["added"] = {t.name: {k: {p: st[t.name][k][p] - st["direct"][k][p]
                                    for p in ("p50", "p90", "p99")}
                                for k in ("first_byte_us", "first_token_us")}
                       for t in targets if t.name != "direct"}
        result["streaming"] = st

        # Memory with every feature on: peak, and no growth over the second half.
        half = plan["growth_n"] // 2
        mem = {"before_kb": gwf.status_kb("VmRSS")}
        first = b.growth_phase(features_t, half, None, driver_cpus)
        second = b.growth_phase(features_t, half, None, driver_cpus)
        mem.update({"first_half": first, "second_half": second,
                    "requests_total": features_t.answered,
                    "peak_rss_kb": gwf.status_kb("VmHWM"),
                    "rss_after_kb": gwf.status_kb("VmRSS"),
                    "kept_usage_records_after": kept(gwf_url)})
        result["memory_features"] = mem
        result["memory_peak_kb"] = {t.name: t.proc.status_kb("VmHWM") for t in targets if t.proc}
        b.log(f"features-on gateway: peak RSS {mem['peak_rss_kb'] / 1024:.1f} MiB after "
              f"{features_t.answered} requests; second half growth "
              f"{second['growth_kb']} kB")
        queues = {}
        for t, url in ((gateway_t, gw_url), (features_t, gwf_url)):
            q = b.drained_queue(url, 30)
            queues[t.name] = dict(q, answered=t.answered)
        result["after_response_queues"] = queues
        result["collector"] = collector.stats()
        result["finished_at"] = b.dt.datetime.now(b.dt.timezone.utc).isoformat(timespec="seconds")
        result["machine"]["loadavg_at_end"] = b.os.getloadavg()
        result["machine"]["steal_pct_over_run"] = b.steal_pct(steal0, b.steal_ticks(),
                                                              time.monotonic() - wall0)
    finally:
        b.stop_all()
    out = b.BENCH / "results" / ("features-quick.json" if args.quick else "features.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print_table(result, out.with_suffix(".md"))
    b.log(f"wrote {out}")
    return 0


def _start_fake(env: dict, cpus, workdir: Path) -> str:
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


def _guardrail_calls(fake_url: str) -> int:
    _, body = b.http("GET", f"{fake_url}/_fake/calls")
    data = json.loads(body)
    total = 0
    for k, v in data.items():
        if "guardrail" in k.lower():
            total += sum(v.values()) if isinstance(v, dict) else (v if isinstance(v, int) else 0)
    return total


def _start_litellm(name: str, template: str, env: dict, fake_url: str, collector_url: str,
                   cpus, workdir: Path) -> tuple[b.Proc, str]:
    port = b.free_port()
    cfg = workdir / f"{name}.yaml"
    cfg.write_text((b.BENCH / "config" / template).read_text().replace("@FAKE_URL@", fake_url))
    ll_env = dict(env)
    ll_env.update({"LITELLM_MASTER_KEY": b.MASTER_KEY, "LITELLM_TELEMETRY": "False",
                   "LITELLM_LOCAL_MODEL_COST_MAP": "True", "DISABLE_SCHEMA_UPDATE": "True",
                   "DISABLE_ADMIN_UI": "True", "HF_HUB_OFFLINE": "1",
                   "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                   # LiteLLM's arize_phoenix callback: OTLP/HTTP to the same stand-in collector.
                   "PHOENIX_COLLECTOR_HTTP_ENDPOINT": f"{collector_url}/v1/traces",
                   "PHOENIX_COLLECTOR_ENDPOINT": f"{collector_url}/v1/traces"})
    cmd = [str(b.LITELLM_BIN), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    proc = b.Proc(name, cmd, ll_env, cpus, workdir)
    t0 = time.monotonic()
    b.wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 180)
    b.log(f"{name} live after {time.monotonic() - t0:.1f}s")
    return proc, f"http://127.0.0.1:{port}"


def print_table(r: dict, md_path: Path | None = None) -> None:
    c1, tp, st = r["latency"]["c1"], r["throughput_c64"], r["streaming"]
    names = [n for n in ("gateway", "gateway_features", "gateway_features_baseline", "litellm",
                         "litellm_features") if n in c1]

    def per_core(n):
        cores = tp[n].get("cpu_cores") or 0
        return tp[n]["rps"] / cores if cores else None

    rows = []
    for n in names:
        a = c1["added"][n]
        rows.append({
            "target": n,
            "rps c=64": f"{tp[n]['rps']:.0f}",
            "rps per core": f"{per_core(n):.0f}" if per_core(n) else "-",
            "CPU us/request c=64": f"{1e6 / per_core(n):.0f}" if per_core(n) else "-",
            "added p50 c=1 (ms)": f"{a['p50_ms']:.3f}",
            "added p99 c=1 (ms)": f"{a['p99_ms']:.3f}",
            "p99/p50 c=1 (total)": f"{c1[n]['p99_ms'] / c1[n]['p50_ms']:.2f}",
            "first token added p50 (ms)": f"{st['added'][n]['first_token_us']['p50'] / 1e3:.3f}",
            "peak RSS (MiB)": f"{r['memory_peak_kb'].get(n, 0) / 1024:.1f}",
        })
    for gw, ll in (("gateway", "litellm"), ("gateway_features", "litellm_features"),
                   ("gateway_features", "gateway_features_baseline")):
        if gw in names and ll in names:
            g_pc, l_pc = per_core(gw), per_core(ll)

            def x(lv, gv):
                return f"{lv / gv:.1f}x" if gv and gv > 0 and lv is not None else "-"
            rows.append({
                "target": f"ratio {ll} / {gw}",
                "rps c=64": x(tp[gw]["rps"], tp[ll]["rps"]),
                "rps per core": x(g_pc, l_pc) if g_pc and l_pc else "-",
                "CPU us/request c=64": x(g_pc, l_pc) if g_pc and l_pc else "-",
                "added p50 c=1 (ms)": x(c1["added"][ll]["p50_ms"], c1["added"][gw]["p50_ms"]),
                "added p99 c=1 (ms)": x(c1["added"][ll]["p99_ms"], c1["added"][gw]["p99_ms"]),
                "p99/p50 c=1 (total)": "-",
                "first token added p50 (ms)": x(st["added"][ll]["first_token_us"]["p50"],
                                                st["added"][gw]["first_token_us"]["p50"]),
                "peak RSS (MiB)": x(r["memory_peak_kb"].get(ll), r["memory_peak_kb"].get(gw)),
            })
    headers = list(rows[0].keys())
    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(row[h] for h in headers) + " |" for row in rows]
    m = r["memory_features"]
    notes = [
        f"direct c=1 p50/p99 {c1['direct']['p50_ms']:.3f} / {c1['direct']['p99_ms']:.3f} ms; "
        f"direct c=64 {tp['direct']['rps']:.0f} rps",
        f"features-on gateway after {m['requests_total']} requests: peak RSS "
        f"{m['peak_rss_kb'] / 1024:.1f} MiB, RSS {m['first_half']['rss_after_kb'] / 1024:.1f} MiB "
        f"after the first half, {m['second_half']['rss_after_kb'] / 1024:.1f} MiB after the "
        f"second ({m['second_half']['growth_kb']:+d} kB); kept usage records "
        f"{m['kept_usage_records_after']}",
        f"steady state before measuring: {r['steady_state']}",
        f"collector: {r['collector']}",
        f"mode {r['mode']}; pinning: {r['pinning']}; LiteLLM {r.get('litellm_version', 'skipped')};"
        f" load average {r['machine']['loadavg_at_start']} -> {r['machine'].get('loadavg_at_end')};"
        f" steal % over the run {r['machine'].get('steal_pct_over_run')}",
    ]
    text = "\n".join(md) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    if md_path is not None:
        md_path.write_text(text)
    print()
    print(text)


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
