#!/usr/bin/env python3
"""The benchmark itself; bench/run.sh builds and installs everything first, then runs this.

Starts the fake Bedrock, the gateway (local server) and LiteLLM, measures them side by side with
the direct call to the fake, prints one table and writes bench/results/latest.json.

Only 127.0.0.1 is contacted. Every load run is bounded by duration or count. Every process
started here runs in its own process group and is ended in the `finally` of main().
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RELEASE = ROOT / "target" / "release"
TOOLS = Path(os.environ.get("BENCH_TOOLS_DIR") or BENCH / ".tools")
OHA = TOOLS / "bin" / "oha"
CLIENT = TOOLS / "target" / "release" / "bench-client"
LITELLM_BIN = BENCH / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-bench-master-key"  # a throwaway key for loopback runs, also in events/
MODEL_ID = "anthropic.claude-3-sonnet-20240229-v1:0"
MODEL_ID_PATH = "anthropic.claude-3-sonnet-20240229-v1%3A0"
PROMPT = "Say hello in five words"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Durations and counts: (full, quick).
PLANS = {
    "full": dict(rounds=3, seconds=5, warmup_n=2000, stream_n=200, growth_n=200_000,
                 growth_litellm_s=60, coldstart_n=10, coldstart_litellm_n=2, lambda_n=10,
                 stream_delay_ms=5, rate_qps=50, rate_seconds=10),
    "quick": dict(rounds=1, seconds=1, warmup_n=200, stream_n=20, growth_n=5_000,
                  growth_litellm_s=10, coldstart_n=2, coldstart_litellm_n=1, lambda_n=2,
                  stream_delay_ms=5, rate_qps=50, rate_seconds=1),
}
# The slow-usage-store gateway: gateway.yaml with `usage.simulated_latency_ms` (every usage
# record waits this long before it is written). With 128 concurrent writes, a 300 ms store keeps
# up with ~400 records/s, so its rounds run at a fixed rate below that (plan's rate_qps).
SLOW_USAGE_MS = 300
# The slow OTLP collector's answer time (the tracing issue: a Phoenix that answers in 300 ms).
SLOW_COLLECTOR_MS = 300

ALL_PROCS: list["Proc"] = []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def steal_ticks() -> dict[str, int]:
    """Steal time per CPU from /proc/stat (USER_HZ ticks): time the hypervisor ran something
    else while this VM's vCPU wanted to run. On this shared host it reaches 30% under load."""
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu"):
                    fields = line.split()
                    out[fields[0]] = int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        pass
    return out


def steal_pct(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    """Share of each CPU's wall time stolen between two steal_ticks() readings, in percent."""
    if seconds <= 0:
        return {}
    return {cpu: round(100 * (after.get(cpu, 0) - t0) / CLK_TCK / seconds, 1)
            for cpu, t0 in before.items() if cpu != "cpu"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ processes


class Proc:
    """A server started in its own process group, optionally pinned to CPUs with taskset."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cpus: str | None,
                 logdir: Path, cwd: Path | None = None):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        full = (["taskset", "-c", cpus] if cpus else []) + cmd
        self.logf = open(self.log_path, "ab")
        self.p = subprocess.Popen(full, env=env, stdout=self.logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  cwd=str(cwd or ROOT))
        ALL_PROCS.append(self)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def group_pids(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == self.pid:  # pgrp
                    pids.append(int(entry))
            except (OSError, ValueError):
                continue
        return pids or [self.pid]

    def status_kb(self, field: str) -> int:
        """Sum of a /proc/PID/status field (VmRSS, VmHWM) over the process group."""
        total = 0
        for pid in self.group_pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(field + ":"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.group_pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                fields = stat[stat.rindex(")") + 2:].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, ValueError):
                pass
        return total / CLK_TCK

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(timeout=10)
        self.logf.close()
        if self in ALL_PROCS:
            ALL_PROCS.remove(self)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


RUN_ID = f"{os.getpid()}-{time.time_ns()}"  # tags every process this run starts (env)


def stop_all() -> None:
    for p in list(reversed(ALL_PROCS)):
        try:
            p.stop()
        except Exception as e:  # keep cleaning up the others
            log(f"stopping {p.name}: {e}")
    # Anything else this run started (a server that bench-client was timing when the run was
    # interrupted) carries BENCH_RUN_ID in its environment: end those by their pid.
    tag = f"BENCH_RUN_ID={RUN_ID}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if tag in f.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError):
            continue


# ------------------------------------------------------------------ HTTP helpers (loopback only)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:"), url
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_http(url: str, proc: Proc, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            status, _ = http("GET", url, timeout=2)
            if status == 200:
                return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout}s:\n{proc.tail()}")


def fake_calls(fake_url: str) -> int:
    """Total Converse + ConverseStream calls the fake has answered."""
    _, body = http("GET", f"{fake_url}/_fake/calls")
    data = json.loads(body)
    total = 0

    def walk(v):
        nonlocal total
        if isinstance(v, dict):
            for val in v.values():
                walk(val)
        elif isinstance(v, list):
            for val in v:
                walk(val)
        elif isinstance(v, int) and not isinstance(v, bool):
            total += v

    walk(data)
    return total


def after_response_queue(gw_url: str) -> dict:
    """The gateway's after-response queue counters: GET /health/readiness's `after_response`."""
    status, body = http("GET", f"{gw_url}/health/readiness")
    if status != 200:
        raise RuntimeError(f"{gw_url}/health/readiness answered {status}: {body[:300]!r}")
    return json.loads(body)["after_response"]


def drained_queue(gw_url: str, timeout: float) -> dict:
    """Waits until every submitted usage record is written, failed or dropped (or timeout)."""
    t0 = time.monotonic()
    while True:
        q = after_response_queue(gw_url)
        pending = q["submitted"] - q["written"] - q["dropped"] - q["failed"]
        if pending <= 0 or time.monotonic() - t0 > timeout:
            return dict(q, pending=pending, waited_s=round(time.monotonic() - t0, 3))
        time.sleep(0.05)


def slow_usage_config(src: Path, dst: Path, latency_ms: int) -> Path:
    """`src` (the gateway's benchmark config) plus `usage.simulated_latency_ms`, as `dst`."""
    lines = src.read_text().splitlines()
    setting = f"  simulated_latency_ms: {latency_ms}  # added by bench.py: a slow usage store"
    at = [i for i, line in enumerate(lines) if line.rstrip() == "usage:"]
    if at:  # gateway.yaml has its own usage section: add the setting to it
        if any(line.strip().startswith("simulated_latency_ms:") for line in lines):
            raise RuntimeError(f"{src} already sets usage.simulated_latency_ms")
        lines.insert(at[0] + 1, setting)
    else:
        lines += ["", "usage:", setting]
    dst.write_text("\n".join(lines) + "\n")
    return dst


EMBED_MODEL_PATH = "amazon.titan-embed-text-v2%3A0"


def cache_and_embeddings_config(src: Path, dst: Path) -> Path:
    """`src` plus LiteLLM's in-memory response cache and a Titan embedding group, as `dst`: one
    gateway for the cache-hit and the embeddings rows."""
    text = src.read_text()
    if "litellm_settings:" in text:
        raise RuntimeError(f"{src} has litellm_settings: merge the cache variant into it")
    text = text.replace("model_list:\n", "model_list:\n"
                        "  - model_name: titan-embed  # added by bench.py\n"
                        "    litellm_params:\n"
                        "      model: bedrock/amazon.titan-embed-text-v2:0\n"
                        "      aws_region_name: us-east-1\n"
                        "      input_cost_per_token: 0.00000002\n", 1)
    dst.write_text(text + '\n# Added by bench.py: the response cache, in memory.\n'
                   'litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n')
    return dst


def traced_config(src: Path, dst: Path) -> Path:
    """`src` plus `litellm_settings.callbacks: ["arize_phoenix"]` (traces on), as `dst`."""
    text = src.read_text()
    if "litellm_settings:" in text:
        raise RuntimeError(f"{src} has litellm_settings: merge the traced variant into it")
    dst.write_text(text + '\n# Added by bench.py: OpenInference traces to the collector.\n'
                   'litellm_settings:\n  callbacks: ["arize_phoenix"]\n')
    return dst


class Collector:
    """A stand-in OTLP/HTTP collector in this process: answers every POST after `delay_ms`
    and counts exports and bytes (Phoenix itself would compete for the server's CPU)."""

    def __init__(self, delay_ms: int):
        import http.server
        import threading

        outer = self
        self.exports = 0
        self.bytes = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                time.sleep(delay_ms / 1000)
                with outer.lock:
                    outer.exports += 1
                    outer.bytes += n
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stats(self) -> dict:
        with self.lock:
            return {"exports": self.exports, "bytes": self.bytes}


# ------------------------------------------------------------------ targets


class Target:
    """Something to send chat requests to: the direct call, the gateway, LiteLLM."""

    def __init__(self, name: str, url: str, body: bytes, stream_path: str, stream_body: bytes,
                 marker: str, headers: dict[str, str], proc: Proc | None):
        self.name, self.url, self.body = name, url, body
        self.stream_path, self.stream_body, self.marker = stream_path, stream_body, marker
        self.headers, self.proc = headers, proc
        self.answered = 0  # 200s this run got from it (chat requests: one usage record each)

    @property
    def addr(self) -> str:
        return self.url.split("//", 1)[1].split("/", 1)[0]


def openai_body(stream: bool) -> bytes:
    return json.dumps({"model": "claude-3-sonnet", "stream": stream, "max_tokens": 64,
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()


def anthropic_body(stream: bool) -> bytes:
    """The same question through Anthropic's Messages API (`/v1/messages`)."""
    return json.dumps({"model": "claude-3-sonnet", "stream": stream, "max_tokens": 64,
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()


def bedrock_body() -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": [{"text": PROMPT}]}],
                       "inferenceConfig": {"maxTokens": 64}}).encode()


# ------------------------------------------------------------------ load generator


def oha(target: Target, concurrency: int, seconds: float | None = None, n: int | None = None,
        cpus: str | None = None, body: bytes | None = None, method: str = "POST",
        rate: float | None = None) -> dict:
    assert target.url.startswith("http://127.0.0.1:")
    cmd = (["taskset", "-c", cpus] if cpus else []) + [
        str(OHA), "--no-tui", "--output-format", "json", "-c", str(concurrency), "-m", method]
    if method == "POST":
        cmd += ["-T", "application/json", "-d", (body or target.body).decode()]
    for k, v in target.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if seconds is not None:
        cmd += ["-z", f"{seconds}s", "-w"]
    if n is not None:
        cmd += ["-n", str(n)]
    if rate is not None:  # open loop at a fixed request rate (oha -q: requests per second)
        cmd += ["-q", str(rate)]
    cmd.append(target.url)
    timeout = (seconds or 0) + 120 + (n or 0) / 50
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    st0, w0 = steal_ticks(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, timeout=timeout)
    st1, w1 = steal_ticks(), time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    oha_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"oha failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    data = json.loads(out.stdout)
    codes = {str(k): v for k, v in (data.get("statusCodeDistribution") or {}).items()}
    ok = codes.get("200", 0)
    bad = sum(v for k, v in codes.items() if k != "200")
    errors = data.get("errorDistribution") or {}
    summary = data["summary"]
    pct = data.get("latencyPercentiles") or {}
    total_time = summary.get("total") or 0
    target.answered += ok
    result = {
        "concurrency": concurrency,
        "rate_qps": rate,
        "ok": ok,
        "non_200": bad,
        "errors": sum(errors.values()) if errors else 0,
        "error_kinds": errors,
        "seconds": total_time,
        "rps": ok / total_time if total_time else 0.0,
        "p50_ms": (pct.get("p50") or 0) * 1e3,
        "p90_ms": (pct.get("p90") or 0) * 1e3,
        "p99_ms": (pct.get("p99") or 0) * 1e3,
        "mean_ms": (summary.get("average") or 0) * 1e3,
        "oha_cores": oha_cpu / total_time if total_time else None,
        "steal_pct": steal_pct(st0, st1, w1 - w0),
    }
    if ok == 0 or bad:
        raise RuntimeError(f"{target.name}: {ok} answered 200, {bad} other statuses {codes}, "
                           f"errors {errors}")
    return result


def ttfb(target: Target, n: int, warmup: int, cpus: str | None) -> dict:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(target.stream_body)
        body_file = f.name
    try:
        cmd = (["taskset", "-c", cpus] if cpus else []) + [
            str(CLIENT), "ttfb", "--addr", target.addr, "--path", target.stream_path,
            "--body-file", body_file, "--n", str(n), "--warmup", str(warmup),
            "--marker", target.marker, "--max-seconds", "120"]
        for k, v in target.headers.items():
            cmd += ["--header", f"{k}: {v}"]
        out = subprocess.run(cmd, capture_output=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"ttfb {target.name}: {out.stderr.decode()[-2000:]}")
        if out.stderr:
            log(out.stderr.decode().strip())
        data = json.loads(out.stdout)
        if data["errors"]:
            raise RuntimeError(f"ttfb {target.name}: {data['errors']} errors")
        target.answered += data["n"] + warmup
        return data
    finally:
        os.unlink(body_file)


# ------------------------------------------------------------------ phases


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def latency_phase(targets: list[Target], concurrency: int, plan: dict, cpus: str | None,
                  rate: float | None = None, seconds: float | None = None) -> dict:
    """Rounds interleave the targets so slow drifts on the machine hit each alike."""
    rounds: dict[str, list[dict]] = {t.name: [] for t in targets}
    for r in range(plan["rounds"]):
        for t in targets:
            cpu_before = t.proc.cpu_seconds() if t.proc else None
            res = oha(t, concurrency, seconds=seconds or plan["seconds"], cpus=cpus, rate=rate)
            if t.proc:
                res["cpu_cores"] = (t.proc.cpu_seconds() - cpu_before) / max(res["seconds"], 1e-9)
            rounds[t.name].append(res)
            at = f" at {rate:g}/s" if rate else ""
            steal = "/".join(f"{v:.0f}" for v in res["steal_pct"].values())
            log(f"c={concurrency}{at} round {r + 1} {t.name}: p50 {res['p50_ms']:.3f} ms "
                f"p99 {res['p99_ms']:.3f} ms, {res['rps']:.0f} rps, steal {steal}%")
    out = {}
    for name, rs in rounds.items():
        out[name] = {k: median([x[k] for x in rs]) for k in
                     ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "rps")}
        out[name]["rps_best"] = max(x["rps"] for x in rs)
        out[name]["requests"] = sum(x["ok"] for x in rs)
        if any("cpu_cores" in x for x in rs):
            out[name]["cpu_cores"] = median([x.get("cpu_cores") for x in rs])
        out[name]["rounds"] = rs
    return out


def added(phase: dict, name: str, base: str = "direct") -> dict:
    """Added latency: per round (same round, same load generator) target minus direct."""
    res = {}
    for p in ("p50", "p90", "p99"):
        diffs = [a[f"{p}_ms"] - b[f"{p}_ms"] for a, b in
                 zip(phase[name]["rounds"], phase[base]["rounds"])]
        res[f"{p}_ms"] = median(diffs)
    return res


def growth_phase(target: Target, n: int | None, seconds: float | None, cpus: str | None) -> dict:
    before = target.proc.status_kb("VmRSS")
    res = oha(target, 32, n=n, seconds=seconds, cpus=cpus)
    after = target.proc.status_kb("VmRSS")
    return {"requests": res["ok"], "rss_before_kb": before, "rss_after_kb": after,
            "growth_kb": after - before, "seconds": res["seconds"]}


def coldstart(name: str, cmd: list[str], env: dict, addr: str, health_path: str, body: bytes,
              n: int, cpus: str | None, logdir: Path, timeout_ms: int) -> dict:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(body)
        body_file = f.name
    runs = []
    try:
        for _ in range(n):
            full = [str(CLIENT), "coldstart", "--addr", addr, "--health-path", health_path,
                    "--body-file", body_file, "--timeout-ms", str(timeout_ms),
                    "--header", f"Authorization: Bearer {MASTER_KEY}",
                    "--log", str(logdir / f"coldstart-{name}.log"), "--"]
            full += (["taskset", "-c", cpus] if cpus else []) + cmd
            out = subprocess.run(full, capture_output=True, env=env,
                                 timeout=timeout_ms / 1000 + 60)
            if out.returncode != 0:
                raise RuntimeError(f"coldstart {name}: {out.stderr.decode()[-2000:]}")
            runs.append(json.loads(out.stdout))
    finally:
        os.unlink(body_file)
    return {"runs": runs, "n": len(runs),
            "healthy_ms": median([r["healthy_ms"] for r in runs]),
            "first_answer_ms": median([r["first_answer_ms"] for r in runs]),
            "rss_kb_after_first": median([r["rss_kb_after_first"] for r in runs])}


def lambda_init(env: dict, n: int, cpus: str | None, logdir: Path) -> dict:
    runs = []
    for _ in range(n):
        cmd = [str(CLIENT), "lambda-init", "--event-file",
               str(BENCH / "events" / "chat-function-url.json"), "--invokes", "3",
               "--expect", "chat.completion", "--timeout-ms", "30000",
               "--log", str(logdir / "lambda-init.log"), "--"]
        cmd += (["taskset", "-c", cpus] if cpus else []) + [str(RELEASE / "chat")]
        out = subprocess.run(cmd, capture_output=True, env=env, timeout=90)
        if out.returncode != 0:
            raise RuntimeError(f"lambda-init: {out.stderr.decode()[-2000:]}")
        runs.append(json.loads(out.stdout))
    return {"runs": runs, "n": n,
            "init_ms": median([r["init_ms"] for r in runs]),
            "first_invoke_ms": median([r["invoke_ms"][0] for r in runs]),
            "warm_invoke_ms": median([r["invoke_ms"][-1] for r in runs]),
            "start_to_first_response_ms": median([r["start_to_first_response_ms"] for r in runs]),
            "rss_kb": median([r["rss_kb"] for r in runs])}


# ------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "loadavg_at_start": os.getloadavg()}


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "shared", "functions", "tests"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip() \
            .splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


# ------------------------------------------------------------------ table


def fmt(v, unit="", digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def ratio(a, b, digits=1):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}x"


def print_table(r: dict, md_path: Path | None = None) -> None:
    has_ll = "litellm" in r["targets"]
    rows: list[tuple] = []

    def row(label, gw, direct, ll, rat, target=""):
        rows.append((label, gw, direct, ll, rat, target))

    for c in ("c1", "c32"):
        ph = r["latency"][c]
        for p in ("p50", "p90", "p99"):
            g = ph["added"]["gateway"][f"{p}_ms"]
            l = ph["added"].get("litellm", {}).get(f"{p}_ms") if has_ll else None
            row(f"added latency {p}, {c.replace('c', 'c=')} (ms)", fmt(g),
                fmt(ph["direct"][f"{p}_ms"]) + " (abs)", fmt(l) if has_ll else "n/a",
                ratio(l, g), "< 0.25" if (c, p) == ("c1", "p99") else "")
    if r.get("gateway_health_c1"):
        h = r["gateway_health_c1"]
        row("context: GET /health round trip c=1, p50/p99 (ms)",
            f"{h['p50_ms']:.3f} / {h['p99_ms']:.3f}", "-", "n/a", "-", "")
    tp = r["throughput_c64"]
    row("requests/s, c=64", fmt(tp["gateway"]["rps"], digits=0), fmt(tp["direct"]["rps"], digits=0),
        fmt(tp["litellm"]["rps"], digits=0) if has_ll else "n/a",
        ratio(tp["gateway"]["rps"], tp["litellm"]["rps"]) if has_ll else "-", ">= 20000")
    st = r["streaming"]
    for k, label in (("first_token_us", "first token"), ("first_byte_us", "first byte")):
        for p in ("p50", "p99"):
            g = st["added"]["gateway"][k][p] / 1e3
            l = st["added"]["litellm"][k][p] / 1e3 if has_ll else None
            row(f"stream {label} added {p} (ms)", fmt(g), fmt(st["direct"][k][p] / 1e3) + " (abs)",
                fmt(l) if has_ll else "n/a", ratio(l, g),
                "< 0.25" if (k, p) == ("first_token_us", "p50") else "")
    mem = r["memory"]
    row("peak RSS under load (MB)", fmt(mem["gateway"]["peak_rss_kb"] / 1024, digits=1), "-",
        fmt(mem["litellm"]["peak_rss_kb"] / 1024, digits=1) if has_ll else "n/a",
        ratio(mem["litellm"]["peak_rss_kb"], mem["gateway"]["peak_rss_kb"]) if has_ll else "-",
        "< 30")
    g = mem["gateway"]["growth"]
    l = mem["litellm"]["growth"] if has_ll else None
    row("RSS growth over long run (MB)",
        f"{g['growth_kb'] / 1024:+.1f} / {g['requests']} req", "-",
        f"{l['growth_kb'] / 1024:+.1f} / {l['requests']} req" if l else "n/a", "-", "")
    cs = r["cold_start"]
    row("cold start: start -> first answer (ms)", fmt(cs["gateway"]["first_answer_ms"], digits=1),
        "-", fmt(cs["litellm"]["first_answer_ms"], digits=0) if has_ll else "n/a",
        ratio(cs["litellm"]["first_answer_ms"], cs["gateway"]["first_answer_ms"]) if has_ll else "-",
        "")
    li = r["lambda"]
    row("Lambda init: start -> GET /next (ms)", fmt(li["init_ms"], digits=2), "-", "n/a", "-",
        "< 30")
    row("Lambda start -> 1st answer (ms)", fmt(li["start_to_first_response_ms"], digits=2), "-",
        "n/a", "-", "")
    row("Lambda 1st / warm invoke (ms)",
        f"{li['first_invoke_ms']:.2f} / {li['warm_invoke_ms']:.2f}", "-", "n/a", "-", "")
    if r.get("cargo_lambda"):
        cl = r["cargo_lambda"]
        row("cargo lambda emulator: start -> 1st answer (ms)",
            fmt(cl["start_to_first_response_ms"], digits=1), "-", "n/a", "-", "")
        row("cargo lambda emulator: warm invoke (ms)", fmt(cl["warm_invoke_ms"], digits=2), "-",
            "n/a", "-", "")
    cs64 = r["cpu_split_gateway_c64"]
    row("CPU cores used at c=64: server / fake / oha",
        f"{cs64['gateway_cores']:.2f} / {cs64['fake_cores']:.2f} / {cs64['oha_cores']:.2f}",
        f"- / {r['cpu_split_direct_c64']['fake_cores']:.2f} / "
        f"{r['cpu_split_direct_c64']['oha_cores']:.2f}", "n/a", "-", "")
    sizes = r["binary_sizes"]
    row("binary size chat (MB)", fmt(sizes.get("chat", 0) / 1e6, digits=1), "-", "n/a", "-", "")
    if "lex" in sizes:
        row("binary size lex (MB)", fmt(sizes["lex"] / 1e6, digits=1), "-", "n/a", "-", "")
    if r.get("gateway_one_deployment"):
        o = r["gateway_one_deployment"]
        row("one deployment, simple-shuffle: added p50/p99 c=1 (ms)",
            f"{o['added_c1']['p50_ms']:.3f} / {o['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("one deployment, simple-shuffle: requests/s c=64", fmt(o["rps_c64"], digits=0),
            "-", "n/a", "-", "")
    if r.get("gateway_messages"):
        m = r["gateway_messages"]
        row("/v1/messages (Anthropic API): added p50/p99 c=1 (ms)",
            f"{m['added_c1']['p50_ms']:.3f} / {m['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("/v1/messages (Anthropic API): requests/s c=64", fmt(m["rps_c64"], digits=0),
            "-", "n/a", "-", "")
    if r.get("gateway_cache_hit"):
        m = r["gateway_cache_hit"]
        row("response cache hit: added p50/p99 c=1 over the direct call (ms)",
            f"{m['added_c1']['p50_ms']:.3f} / {m['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("response cache hit: requests/s c=64", fmt(m["rps_c64"], digits=0),
            "-", "n/a", "-", "")
    if r.get("gateway_embeddings"):
        m = r["gateway_embeddings"]
        row("/v1/embeddings: added p50/p99 c=1 over direct InvokeModel (ms)",
            f"{m['added_c1']['p50_ms']:.3f} / {m['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("/v1/embeddings: requests/s c=64 (direct)",
            f"{fmt(m['rps_c64'], digits=0)} ({fmt(m['direct_rps_c64'], digits=0)})",
            "-", "n/a", "-", "")
    if r.get("gateway_embeddings_cache_hit"):
        m = r["gateway_embeddings_cache_hit"]
        row("/v1/embeddings cache hit: added p50/p99 c=1 over direct InvokeModel (ms)",
            f"{m['added_c1']['p50_ms']:.3f} / {m['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("/v1/embeddings cache hit: requests/s c=64", fmt(m["rps_c64"], digits=0),
            "-", "n/a", "-", "")
    if r.get("gateway_embeddings_cache_miss"):
        m = r["gateway_embeddings_cache_miss"]
        row("/v1/embeddings cache miss (stored): added p50/p99 c=1 over direct (ms)",
            f"{m['added_c1']['p50_ms']:.3f} / {m['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("/v1/embeddings cache miss (stored): requests/s c=64", fmt(m["rps_c64"], digits=0),
            "-", "n/a", "-", "")
    if r.get("gateway_rust_log_warn"):
        w = r["gateway_rust_log_warn"]
        row("RUST_LOG=warn: added p50/p99 c=1 (ms)",
            f"{w['added_c1']['p50_ms']:.3f} / {w['added_c1']['p99_ms']:.3f}", "-", "n/a", "-", "")
        row("RUST_LOG=warn: requests/s c=64", fmt(w["rps_c64"], digits=0),
            fmt(w["direct_rps_c64"], digits=0), "n/a", "-", "")
    if r.get("usage_sink_slow"):
        u = r["usage_sink_slow"]
        ph, ms, at = u["phase"], u["simulated_latency_ms"], f"c=1 at {u['rate_qps']:g} req/s"

        def pp(d):
            return f"{d['p50_ms']:.3f} / {d['p99_ms']:.3f}"

        row(f"{at}: added p50/p99 (ms), usage store as configured", pp(ph["added"]["gateway"]),
            pp(ph["direct"]) + " (abs)", "n/a", "-", "")
        row(f"{at}: added p50/p99 (ms), usage store +{ms} ms per record",
            pp(ph["added"]["gateway_slow_usage"]), pp(ph["direct"]) + " (abs)", "n/a", "-", "")
        row(f"{at}: store +{ms} ms minus as configured, p50/p99 (ms)",
            pp(ph["added"]["slow_minus_gateway"]), "-", "n/a", "-", "")
        q = r.get("after_response_queues", {}).get("gateway_slow_usage") or u["queue_drained"]
        row(f"usage store +{ms} ms: answered / records submitted / written / dropped / failed",
            f"{q.get('answered', u['answered'])} / {q['submitted']} / {q['written']} / "
            f"{q['dropped']} / {q['failed']}", "-", "n/a", "-", "")
    if r.get("gateway_traced"):
        t = r["gateway_traced"]

        def pq(d):
            return f"{d['p50_ms']:.3f} / {d['p99_ms']:.3f}"

        row("traces on: added p50/p99 c=1 (ms)", pq(t["added_c1"]), "-", "n/a", "-", "")
        row("traces on minus off: p50/p99 c=1 (ms)", pq(t["traced_minus_gateway_c1"]), "-",
            "n/a", "-", "")
        row("traces on: requests/s c=64 (traces off)",
            f"{t['rps_c64']:.0f} ({t['gateway_rps_c64']:.0f})",
            fmt(t["direct_rps_c64"], digits=0), "n/a", "-", "")
        if t.get("slow_collector"):
            sc = t["slow_collector"]
            row(f"collector +{sc['collector_ms']} ms at {sc['rate_qps']:g} req/s: added p50/p99 "
                "(ms)", pq(sc["added"]), "-", "n/a", "-", "")
            row(f"collector +{sc['collector_ms']} ms minus traces off, p50/p99 (ms)",
                pq(sc["minus_gateway"]), "-", "n/a", "-", "")
        qs = r.get("after_response_queues", {})
        for name in ("gateway_traced", "gateway_traced_slow"):
            q = qs.get(name)
            if q:
                row(f"{name}: answered / jobs submitted / written / dropped / failed",
                    f"{q['answered']} / {q['submitted']} / {q['written']} / {q['dropped']} / "
                    f"{q['failed']}", "-", "n/a", "-", "")
    q = r.get("after_response_queues", {}).get("gateway")
    if q:
        row("gateway after the run: answered / records submitted / written / dropped / failed",
            f"{q['answered']} / {q['submitted']} / {q['written']} / {q['dropped']} / "
            f"{q['failed']}", "-", "n/a", "-", "")

    headers = ("measure", "gateway", "direct", "LiteLLM", "gateway advantage", "target")
    if md_path is not None:
        md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        md += ["| " + " | ".join(str(v) for v in rrow) + " |" for rrow in rows]
        md_path.write_text("\n".join(md) + "\n")
    widths = [max(len(str(x[i])) for x in rows + [headers]) for i in range(6)]
    line = "+".join("-" * (w + 2) for w in widths)
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for rrow in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(rrow, widths)))
    print()
    print(f"mode {r['mode']}; pinning: {r['pinning']}; gateway RUST_LOG={r['gateway_rust_log']}; "
          f"LiteLLM {r.get('litellm_version', 'skipped')}; {r['oha_version']}; "
          f"load average at start {r['machine']['loadavg_at_start']}, at end "
          f"{r['machine'].get('loadavg_at_end')}; CPU time stolen by the hypervisor over the run "
          f"(per CPU, %): {r['machine'].get('steal_pct_over_run')}")
    print("added = target minus the direct call to the fake, per round, median of rounds; "
          "(abs) = the direct call's own figure;\ngateway advantage = how many times better the "
          "gateway is than LiteLLM (below 1x: worse)")


# ------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--litellm", action="store_true", help="include LiteLLM in --quick")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--cargo-lambda", default="", help="path to cargo-lambda's venv bin, if any")
    ap.add_argument("--out", default=str(BENCH / "results" / "latest.json"))
    ap.add_argument("--guardrails", action="store_true",
                    help="only the guardrail rows: one-deployment gateway with and without a "
                         "pre_call+post_call Bedrock guardrail (bench/config/gateway-guardrails.yaml)")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    with_litellm = (not args.no_litellm) and (mode == "full" or args.litellm)

    pin = (not args.no_pin) and (os.cpu_count() or 1) >= 2 and shutil.which("taskset")
    server_cpus = "0" if pin else None      # gateway, LiteLLM
    driver_cpus = "1" if pin else None      # fake Bedrock, oha, bench-client
    pinning = ("gateway/LiteLLM on CPU 0; fake Bedrock + load generator on CPU 1" if pin
               else "none (all processes share all CPUs)")

    (BENCH / ".work").mkdir(exist_ok=True)
    # Keep the logs of the last two runs only (a full run's gateway log is ~150 MB).
    old_runs = sorted((BENCH / ".work").glob("bench-*"), key=lambda p: p.stat().st_mtime)
    for old in old_runs[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=str(BENCH / ".work")))
    log(f"mode {mode}, logs in {workdir}, pinning: {pinning}")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("AWS_", "LITELLM_", "GATEWAY_"))}
    base_env.update({"BENCH_RUN_ID": RUN_ID, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                     "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                     "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
                     "no_proxy": "127.0.0.1,localhost"})
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        base_env.pop(k, None)

    result: dict = {
        "schema": 1, "mode": mode, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(
            timespec="seconds"),
        "git": git_rev(), "machine": machine(), "pinning": pinning,
        "oha_version": tool_version([str(OHA), "--version"]),
        "plan": plan,
    }
    steal_at_start, wall_at_start = steal_ticks(), time.monotonic()
    try:
        # Fake Bedrock, no latency: overhead is what is left.
        fake = Proc("fake-bedrock", [str(RELEASE / "fake-bedrock"), "--port", "0",
                                     "--latency-ms", "0", "--stream-event-delay-ms", "0"],
                    base_env, driver_cpus, workdir)
        fake_url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and fake_url is None:
            for line in fake.log_path.read_text(errors="replace").splitlines():
                if "listening on http://127.0.0.1:" in line:
                    fake_url = line.split("listening on ", 1)[1].strip()
            if not fake.alive():
                raise RuntimeError(f"fake-bedrock exited:\n{fake.tail()}")
            time.sleep(0.05)
        if not fake_url:
            raise RuntimeError("fake-bedrock did not print its address")
        log(f"fake Bedrock at {fake_url}")

        gw_env = dict(base_env)
        gw_env.update({"GATEWAY_CONFIG": str(BENCH / "config" / "gateway.yaml"),
                       "LITELLM_MASTER_KEY": MASTER_KEY,
                       "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake_url})
        rust_log = os.environ.get("BENCH_GATEWAY_RUST_LOG", "info")
        result["gateway_rust_log"] = rust_log

        def start_gateway(level: str, tag: str, config: Path | None = None,
                          more_env: dict | None = None) -> tuple[Proc, str]:
            port = free_port()
            env = dict(gw_env, PORT=str(port), HOST="127.0.0.1", RUST_LOG=level)
            if config is not None:
                env["GATEWAY_CONFIG"] = str(config)
            env.update(more_env or {})
            proc = Proc(f"gateway-{tag}", [str(RELEASE / "chat")], env, server_cpus, workdir)
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/health", proc, 30)
            return proc, url

        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        if args.guardrails:
            result.update(guardrail_bench(start_gateway, rust_log, fake_url, auth, plan,
                                          driver_cpus))
            result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            result["machine"]["steal_pct_over_run"] = steal_pct(steal_at_start, steal_ticks(),
                                                                time.monotonic() - wall_at_start)
            out = Path(args.out).with_name(f"guardrails{'-quick' if args.quick else ''}.json")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1) + "\n")
            print_guardrail_table(result, out.with_suffix(".md"))
            print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
            return 0
        gw, gw_url = start_gateway(rust_log, rust_log)
        # The same gateway with RUST_LOG=warn (no per-request info line), idle on the same CPU
        # except in its own turns: its rounds interleave with the others', so drift on the
        # machine does not pass for the log line's cost.
        extra: list[Target] = []
        gw_w = None
        if rust_log != "warn":
            gw_w, gw_w_url = start_gateway("warn", "warn")
            extra.append(Target("gateway_warn", f"{gw_w_url}/v1/chat/completions",
                                openai_body(False), "/v1/chat/completions", openai_body(True),
                                "sse", auth, gw_w))
        # The same gateway with one deployment and the default strategy: what routing
        # (cost-based over two deployments, as gateway.yaml has it) costs, in the same rounds.
        gw_o, gw_o_url = start_gateway(rust_log, "one-deployment",
                                       BENCH / "config" / "gateway-one-deployment.yaml")
        extra.append(Target("gateway_one", f"{gw_o_url}/v1/chat/completions",
                            openai_body(False), "/v1/chat/completions", openai_body(True),
                            "sse", auth, gw_o))
        # The same gateway through Anthropic's Messages API (key in x-api-key): what the
        # Anthropic wire shapes add over chat completions, in the same rounds.
        messages = Target("gateway_messages", f"{gw_url}/v1/messages", anthropic_body(False),
                          "/v1/messages", anthropic_body(True), "sse",
                          {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}, gw)
        extra.append(messages)
        # A response-cache hit (the same question every time: every request after the first is
        # answered from the in-memory cache) and /v1/embeddings (Titan V2) against the direct
        # InvokeModel call, on one more gateway with the cache and an embedding group.
        ce_cfg = cache_and_embeddings_config(BENCH / "config" / "gateway.yaml",
                                             workdir / "gateway-cache-embeddings.yaml")
        gw_ce, gw_ce_url = start_gateway(rust_log, "cache-embeddings", ce_cfg)
        cache_hit = Target("gateway_cache_hit", f"{gw_ce_url}/v1/chat/completions",
                           openai_body(False), "/v1/chat/completions", openai_body(True), "sse",
                           auth, gw_ce)
        # The embeddings row asks past the cache (`use-cache: false`: the model path, as before
        # embeddings were cached); the embeddings-hit row asks the same texts every time.
        embed_body = json.dumps({"model": "titan-embed", "input": PROMPT,
                                 "cache": {"use-cache": False}}).encode()
        embeddings = Target("gateway_embeddings", f"{gw_ce_url}/v1/embeddings", embed_body,
                            "", b"", "sse", auth, gw_ce)
        embed_hit = Target("gateway_embeddings_cache_hit", f"{gw_ce_url}/v1/embeddings",
                           json.dumps({"model": "titan-embed", "input": PROMPT}).encode(),
                           "", b"", "sse", auth, gw_ce)
        # What a miss costs with the cache on (key, the vectors serialized and stored): every
        # request skips the read (`no-cache`) and stores its answer again.
        embed_miss = Target("gateway_embeddings_cache_miss", f"{gw_ce_url}/v1/embeddings",
                            json.dumps({"model": "titan-embed", "input": PROMPT,
                                        "cache": {"no-cache": True}}).encode(),
                            "", b"", "sse", auth, gw_ce)
        direct_embed = Target("direct_embeddings",
                              f"{fake_url}/model/{EMBED_MODEL_PATH}/invoke",
                              json.dumps({"inputText": PROMPT}).encode(), "", b"", "sse", {},
                              None)
        for t in (cache_hit, embeddings, embed_hit, embed_miss, direct_embed):
            status, body = http("POST", t.url, t.body, {"Content-Type": "application/json",
                                                        **t.headers})
            if status != 200:
                raise RuntimeError(f"{t.name}: {status} {body[:300]!r}")
            t.answered += 1
        extra += [cache_hit, embeddings, embed_hit, embed_miss, direct_embed]
        # The same gateway again, with a usage store that takes SLOW_USAGE_MS per record
        # (gateway.yaml + usage.simulated_latency_ms, generated into the work dir), same log
        # level: its rounds interleave with the gateway's at a fixed request rate, to show that
        # usage records are written after the answer and a slow store adds no latency.
        slow_cfg = slow_usage_config(BENCH / "config" / "gateway.yaml",
                                     workdir / "gateway-slow-usage.yaml", SLOW_USAGE_MS)
        gw_s, gw_s_url = start_gateway(rust_log, "slow-usage", slow_cfg)
        slow = Target("gateway_slow_usage", f"{gw_s_url}/v1/chat/completions", openai_body(False),
                      "/v1/chat/completions", openai_body(True), "sse", auth, gw_s)
        # Traces on (the tracing issue): the same gateway exporting OpenInference spans to a
        # stand-in collector that answers at once (in the c=1 and c=64 rounds), and to one that
        # answers in SLOW_COLLECTOR_MS (in the fixed-rate rounds, beside the slow usage store).
        traced_cfg = traced_config(BENCH / "config" / "gateway.yaml", workdir / "gateway-traced.yaml")
        fast_collector, slow_collector = Collector(0), Collector(SLOW_COLLECTOR_MS)
        gw_t, gw_t_url = start_gateway(rust_log, "traced", traced_cfg,
                                       {"PHOENIX_COLLECTOR_ENDPOINT": fast_collector.url})
        extra.append(Target("gateway_traced", f"{gw_t_url}/v1/chat/completions",
                            openai_body(False), "/v1/chat/completions", openai_body(True),
                            "sse", auth, gw_t))
        gw_ts, gw_ts_url = start_gateway(rust_log, "traced-slow-collector", traced_cfg,
                                         {"PHOENIX_COLLECTOR_ENDPOINT": slow_collector.url})
        traced_slow = Target("gateway_traced_slow", f"{gw_ts_url}/v1/chat/completions",
                             openai_body(False), "/v1/chat/completions", openai_body(True), "sse",
                             auth, gw_ts)
        direct = Target("direct", f"{fake_url}/model/{MODEL_ID_PATH}/converse", bedrock_body(),
                        f"/model/{MODEL_ID_PATH}/converse-stream", bedrock_body(), "eventstream",
                        {}, None)
        gateway = Target("gateway", f"{gw_url}/v1/chat/completions", openai_body(False),
                         "/v1/chat/completions", openai_body(True), "sse", auth, gw)
        targets = [direct, gateway]

        # Each target answers, and through the fake.
        for t in targets + [slow, traced_slow, messages]:
            before = fake_calls(fake_url)
            status, body = http("POST", t.url, t.body,
                                {"Content-Type": "application/json", **t.headers})
            if status != 200 or fake_calls(fake_url) <= before:
                raise RuntimeError(f"{t.name} did not answer through the fake: {status} "
                                   f"{body[:300]!r}")
            t.answered += 1
        log("direct, gateway and the slow-usage-store gateway answer through the fake")

        ll = None
        if with_litellm:
            ll_port = free_port()
            cfg = workdir / "litellm.yaml"
            cfg.write_text((BENCH / "config" / "litellm.yaml.in").read_text()
                           .replace("@FAKE_URL@", fake_url))
            ll_env = dict(base_env)
            ll_env.update({"LITELLM_MASTER_KEY": MASTER_KEY, "LITELLM_TELEMETRY": "False",
                           "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                           "DISABLE_SCHEMA_UPDATE": "True", "DISABLE_ADMIN_UI": "True",
                           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                           "PYTHONUNBUFFERED": "1"})
            ll_cmd = [str(LITELLM_BIN), "--config", str(cfg), "--host", "127.0.0.1",
                      "--port", str(ll_port), "--num_workers", "1"]
            ll = Proc("litellm", ll_cmd, ll_env, server_cpus, workdir)
            t0 = time.monotonic()
            wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", ll, 180)
            log(f"LiteLLM live after {time.monotonic() - t0:.1f}s")
            litellm = Target("litellm", f"http://127.0.0.1:{ll_port}/v1/chat/completions",
                             openai_body(False), "/v1/chat/completions", openai_body(True), "sse",
                             auth, ll)
            before = fake_calls(fake_url)
            status, body = http("POST", litellm.url, litellm.body,
                                {"Content-Type": "application/json", **auth}, timeout=60)
            if status != 200 or fake_calls(fake_url) <= before:
                raise RuntimeError(f"LiteLLM did not answer through the fake: {status} "
                                   f"{body[:500]!r}\n{ll.tail()}")
            log("LiteLLM answers through the fake")
            targets.append(litellm)
            result["litellm_version"] = tool_version(
                [str(BENCH / ".venv-litellm" / "bin" / "python"), "-c",
                 "import importlib.metadata as m; print(m.version('litellm'))"])
        result["targets"] = [t.name for t in targets]

        # Warm-up: connection pools, allocators, Python imports.
        for t in targets + extra:
            oha(t, 8, n=plan["warmup_n"] if t.name != "litellm" else 200, cpus=driver_cpus)
        # The slow-store gateway: a short warm-up, within what its store absorbs in a second.
        oha(slow, 8, n=200, cpus=driver_cpus)
        oha(traced_slow, 8, n=200, cpus=driver_cpus)

        # Context for c=1: a round trip into the gateway that does no work (GET /health): the
        # floor that the extra loopback hop and the HTTP server put under "added latency".
        health = Target("gateway_health", f"{gw_url}/health", b"", "", b"", "sse", {}, gw)
        hres = [oha(health, 1, seconds=plan["seconds"], cpus=driver_cpus, method="GET")
                for _ in range(plan["rounds"])]
        result["gateway_health_c1"] = {k: median([h[k] for h in hres])
                                       for k in ("p50_ms", "p90_ms", "p99_ms")}

        # Non-streaming latency at c=1 and c=32; throughput at c=64.
        result["latency"] = {}
        for c in (1, 32):
            ph = latency_phase(targets + (extra if c == 1 else []), c, plan, driver_cpus)
            ph["added"] = {t.name: added(ph, t.name) for t in targets if t.name != "direct"}
            if c == 1 and gw_w is not None:
                warn_added_c1 = added(ph, "gateway_warn")
                warn_c1 = ph.pop("gateway_warn")
            if c == 1:
                one_added_c1 = added(ph, "gateway_one")
                one_c1 = ph.pop("gateway_one")
                traced_added_c1 = added(ph, "gateway_traced")
                traced_vs_gateway_c1 = added(ph, "gateway_traced", base="gateway")
                traced_c1 = ph.pop("gateway_traced")
                messages_added_c1 = added(ph, "gateway_messages")
                messages_vs_gateway_c1 = added(ph, "gateway_messages", base="gateway")
                messages_c1 = ph.pop("gateway_messages")
                cache_added_c1 = added(ph, "gateway_cache_hit")
                embed_added_c1 = added(ph, "gateway_embeddings", base="direct_embeddings")
                embed_hit_added_c1 = added(ph, "gateway_embeddings_cache_hit",
                                           base="direct_embeddings")
                embed_hit_c1 = ph.pop("gateway_embeddings_cache_hit")
                embed_miss_added_c1 = added(ph, "gateway_embeddings_cache_miss",
                                            base="direct_embeddings")
                embed_miss_c1 = ph.pop("gateway_embeddings_cache_miss")
                cache_c1 = ph.pop("gateway_cache_hit")
                embed_c1 = ph.pop("gateway_embeddings")
                direct_embed_c1 = ph.pop("direct_embeddings")
            result["latency"][f"c{c}"] = ph
        tp = latency_phase(targets + extra, 64, plan, driver_cpus)
        if gw_w is not None:
            warn_c64 = tp.pop("gateway_warn")
            result["gateway_rust_log_warn"] = {
                "added_c1": warn_added_c1, "rps_c64": warn_c64["rps"],
                "direct_rps_c64": tp["direct"]["rps"], "c1": warn_c1, "c64": warn_c64}
        one_c64 = tp.pop("gateway_one")
        result["gateway_one_deployment"] = {
            "added_c1": one_added_c1, "rps_c64": one_c64["rps"], "c1": one_c1, "c64": one_c64,
            "config": "bench/config/gateway-one-deployment.yaml"}
        messages_c64 = tp.pop("gateway_messages")
        result["gateway_messages"] = {
            "added_c1": messages_added_c1, "messages_minus_gateway_c1": messages_vs_gateway_c1,
            "rps_c64": messages_c64["rps"], "gateway_rps_c64": tp["gateway"]["rps"],
            "c1": messages_c1, "c64": messages_c64, "path": "/v1/messages"}
        cache_c64, embed_c64 = tp.pop("gateway_cache_hit"), tp.pop("gateway_embeddings")
        direct_embed_c64 = tp.pop("direct_embeddings")
        embed_hit_c64 = tp.pop("gateway_embeddings_cache_hit")
        embed_miss_c64 = tp.pop("gateway_embeddings_cache_miss")
        result["gateway_embeddings_cache_miss"] = {
            "added_c1": embed_miss_added_c1, "rps_c64": embed_miss_c64["rps"],
            "c1": embed_miss_c1, "c64": embed_miss_c64,
            "note": "no-cache: the model call, then the vectors stored"}
        result["gateway_embeddings_cache_hit"] = {
            "added_c1": embed_hit_added_c1, "rps_c64": embed_hit_c64["rps"], "c1": embed_hit_c1,
            "c64": embed_hit_c64, "note": "added over the direct InvokeModel call it saves"}
        result["gateway_cache_hit"] = {
            "added_c1": cache_added_c1, "rps_c64": cache_c64["rps"], "c1": cache_c1,
            "c64": cache_c64, "note": "added over the direct Converse call it saves"}
        result["gateway_embeddings"] = {
            "added_c1": embed_added_c1, "rps_c64": embed_c64["rps"],
            "direct_rps_c64": direct_embed_c64["rps"], "c1": embed_c1, "c64": embed_c64,
            "direct_c1": direct_embed_c1, "path": "/v1/embeddings (Titan V2)"}
        traced_c64 = tp.pop("gateway_traced")
        result["gateway_traced"] = {
            "added_c1": traced_added_c1, "traced_minus_gateway_c1": traced_vs_gateway_c1,
            "rps_c64": traced_c64["rps"], "gateway_rps_c64": tp["gateway"]["rps"],
            "direct_rps_c64": tp["direct"]["rps"], "c1": traced_c1, "c64": traced_c64,
            "config": str(traced_cfg.relative_to(ROOT))}
        result["throughput_c64"] = tp
        # CPU of the fake during a direct run, to show how the driver core is shared.
        cpu0 = fake.cpu_seconds()
        res = oha(direct, 64, seconds=plan["seconds"], cpus=driver_cpus)
        result["fake_cpu_cores_direct_c64"] = (fake.cpu_seconds() - cpu0) / res["seconds"]
        direct_oha_cores = res["oha_cores"]
        cpu0, g0 = fake.cpu_seconds(), gw.cpu_seconds()
        res = oha(gateway, 64, seconds=plan["seconds"], cpus=driver_cpus)
        result["cpu_split_gateway_c64"] = {
            "gateway_cores": (gw.cpu_seconds() - g0) / res["seconds"],
            "fake_cores": (fake.cpu_seconds() - cpu0) / res["seconds"],
            "oha_cores": res["oha_cores"],
            "rps": res["rps"],
        }
        result["cpu_split_direct_c64"] = {"fake_cores": result.pop("fake_cpu_cores_direct_c64"),
                                          "oha_cores": direct_oha_cores}

        # A slow usage store: c=1 at a fixed rate (open loop, oha -q) that the store keeps up
        # with; direct, gateway and slow-store gateway interleaved in the same rounds.
        rate = plan["rate_qps"]
        rp = latency_phase([direct, gateway, slow, traced_slow], 1, plan, driver_cpus, rate=rate,
                           seconds=plan["rate_seconds"])
        tsp = {"gateway_traced_slow": rp.pop("gateway_traced_slow")}
        q_end = after_response_queue(gw_s_url)  # records still in the store's 300 ms wait
        q_drained = drained_queue(gw_s_url, 30)
        rp["added"] = {"gateway": added(rp, "gateway"),
                       "gateway_slow_usage": added(rp, "gateway_slow_usage"),
                       "slow_minus_gateway": added(rp, "gateway_slow_usage", base="gateway")}
        result["usage_sink_slow"] = {
            "simulated_latency_ms": SLOW_USAGE_MS, "rate_qps": rate, "concurrency": 1,
            "config": str(slow_cfg.relative_to(ROOT)), "phase": rp,
            "queue_at_end_of_rounds": q_end, "queue_drained": q_drained,
            "answered": slow.answered}
        log(f"slow usage store ({SLOW_USAGE_MS} ms) at {rate}/s: added p50/p99 "
            f"{rp['added']['gateway_slow_usage']['p50_ms']:.3f} / "
            f"{rp['added']['gateway_slow_usage']['p99_ms']:.3f} ms, gateway "
            f"{rp['added']['gateway']['p50_ms']:.3f} / {rp['added']['gateway']['p99_ms']:.3f} ms;"
            f" {slow.answered} answered, queue {q_drained}")
        if q_drained["dropped"] or q_drained["failed"] or q_drained["pending"]:
            log(f"WARNING: slow-store gateway lost usage records: {q_drained}")
        rp_t = dict(rp, **tsp)
        result["gateway_traced"]["slow_collector"] = {
            "collector_ms": SLOW_COLLECTOR_MS, "rate_qps": rate,
            "added": added(rp_t, "gateway_traced_slow"),
            "minus_gateway": added(rp_t, "gateway_traced_slow", base="gateway"),
            "phase": tsp["gateway_traced_slow"],
            "queue_drained": drained_queue(gw_ts_url, 30)}

        # Streaming: time to first byte / first token, added over the direct ConverseStream.
        http("POST", f"{fake_url}/_fake/latency?per_event_ms={plan['stream_delay_ms']}")
        st = {t.name: ttfb(t, plan["stream_n"], max(2, plan["stream_n"] // 10), driver_cpus)
              for t in targets}
        http("POST", f"{fake_url}/_fake/latency?per_event_ms=0")
        st["stream_event_delay_ms"] = plan["stream_delay_ms"]
        st["added"] = {}
        for t in targets:
            if t.name == "direct":
                continue
            st["added"][t.name] = {
                k: {p: st[t.name][k][p] - st["direct"][k][p] for p in ("p50", "p90", "p99")}
                for k in ("head_us", "first_byte_us", "first_token_us", "total_us")}
        result["streaming"] = st
        for t in targets:
            if t.name != "direct":
                log(f"stream {t.name}: first token added p50 "
                    f"{st['added'][t.name]['first_token_us']['p50']:.0f} us")

        # Memory: peak under load, then growth over a longer run.
        mem = {}
        for t in targets:
            if t.proc is None:
                continue
            peak_before_growth = t.proc.status_kb("VmHWM")
            if t.name == "litellm":
                growth = growth_phase(t, None, plan["growth_litellm_s"], driver_cpus)
            else:
                growth = growth_phase(t, plan["growth_n"], None, driver_cpus)
            # Kernel RSS counters are approximate (per-CPU batches): keep the highest reading.
            mem[t.name] = {"peak_rss_kb": max(t.proc.status_kb("VmHWM"), peak_before_growth),
                           "peak_rss_kb_before_growth_run": peak_before_growth,
                           "growth": growth}
            log(f"{t.name}: peak RSS {mem[t.name]['peak_rss_kb'] / 1024:.1f} MB, growth "
                f"{growth['growth_kb']} kB over {growth['requests']} requests")
        result["memory"] = mem

        # Every answered chat request has one usage record: the queues after all load phases.
        queues = {}
        shared = (messages, embeddings, embed_hit, embed_miss, direct_embed)
        for t in [gateway, slow, traced_slow] + [t for t in extra if t not in shared]:
            q = drained_queue(t.url.rsplit("/v1/", 1)[0], 30)
            # `gateway_messages` is the same process as `gateway`, `gateway_embeddings` as
            # `gateway_cache_hit`: their records are in that process's queue.
            answered = t.answered + (messages.answered if t is gateway else 0) + (
                embeddings.answered + embed_hit.answered + embed_miss.answered
                if t is cache_hit else 0)
            queues[t.name] = dict(q, answered=answered)
            # A traced gateway queues two jobs per answer: the usage record and the trace.
            jobs = answered * (2 if t.name.startswith("gateway_traced") else 1)
            if q["submitted"] != jobs or q["dropped"] or q["failed"] or q["pending"]:
                log(f"WARNING: {t.name}: {answered} answered, after-response queue {q}")
        result["after_response_queues"] = queues
        result["gateway_traced"]["collectors"] = {"fast": fast_collector.stats(),
                                                  "slow": slow_collector.stats()}
        result["gateway_traced"]["peak_rss_kb"] = gw_t.status_kb("VmHWM")
        gw_t.stop()
        gw_ts.stop()
        result["usage_sink_slow"]["peak_rss_kb"] = gw_s.status_kb("VmHWM")
        gw_s.stop()
        if gw_w is not None:
            result["gateway_rust_log_warn"]["peak_rss_kb"] = gw_w.status_kb("VmHWM")
            gw_w.stop()
        result["gateway_cache_hit"]["peak_rss_kb"] = gw_ce.status_kb("VmHWM")
        gw_ce.stop()
        gw.stop()
        if ll is not None:
            ll.stop()

        # Cold start: process start -> healthy -> first answered chat request.
        cs = {}
        cs_env = dict(gw_env, RUST_LOG=rust_log)
        port = free_port()
        cs_env["PORT"] = str(port)
        cs["gateway"] = coldstart("gateway", [str(RELEASE / "chat")], cs_env,
                                  f"127.0.0.1:{port}", "/health", openai_body(False),
                                  plan["coldstart_n"], server_cpus, workdir, 30_000)
        log(f"gateway cold start: {cs['gateway']['first_answer_ms']:.1f} ms")
        if with_litellm:
            port = free_port()
            cmd = list(ll_cmd)
            cmd[cmd.index("--port") + 1] = str(port)
            cs["litellm"] = coldstart("litellm", cmd, ll_env, f"127.0.0.1:{port}",
                                      "/health/liveliness", openai_body(False),
                                      plan["coldstart_litellm_n"], server_cpus, workdir, 180_000)
            log(f"LiteLLM cold start: {cs['litellm']['first_answer_ms']:.0f} ms")
        result["cold_start"] = cs

        # Lambda init under a minimal Runtime API (bench-client lambda-init).
        li_env = dict(gw_env, RUST_LOG=rust_log)
        result["lambda"] = lambda_init(li_env, plan["lambda_n"], server_cpus, workdir)
        log(f"Lambda init {result['lambda']['init_ms']:.2f} ms")

        if args.cargo_lambda:
            try:
                result["cargo_lambda"] = cargo_lambda_init(args.cargo_lambda, li_env,
                                                           plan["lambda_n"], server_cpus, workdir)
            except Exception as e:  # optional cross-check: report, don't fail the run
                log(f"cargo lambda cross-check failed: {e}")
                result["cargo_lambda"] = None

        sizes = {}
        for b in ("chat", "lex", "fake-bedrock"):
            p = RELEASE / b
            if p.exists():
                sizes[b] = p.stat().st_size
        result["binary_sizes"] = sizes
        result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        result["machine"]["loadavg_at_end"] = os.getloadavg()
        result["machine"]["steal_pct_over_run"] = steal_pct(steal_at_start, steal_ticks(),
                                                            time.monotonic() - wall_at_start)
    finally:
        stop_all()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    print_table(result, out.with_suffix(".md"))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


GUARDRAIL_LONG_STREAM_EVENT_MS = 1


def guardrail_bench(start_gateway, rust_log: str, fake_url: str, auth: dict, plan: dict,
                    cpus: str | None) -> dict:
    """The guardrail rows: the one-deployment gateway without and with a Bedrock guardrail
    (pre_call + post_call, fake ApplyGuardrail with no delay), interleaved with the direct call:
    added latency at c=1, requests/s at c=64; then a long streamed answer (the fake's
    LONG_ANSWER: 300 sentences, one event per word, GUARDRAIL_LONG_STREAM_EVENT_MS apart) to show
    that the first token with an output guardrail waits for one window, not the whole answer."""
    plain_p, plain_url = start_gateway(rust_log, "one-deployment",
                                       BENCH / "config" / "gateway-one-deployment.yaml")
    guard_p, guard_url = start_gateway(rust_log, "guardrails",
                                       BENCH / "config" / "gateway-guardrails.yaml")
    path = "/v1/chat/completions"
    direct = Target("direct", f"{fake_url}/model/{MODEL_ID_PATH}/converse", bedrock_body(),
                    f"/model/{MODEL_ID_PATH}/converse-stream", bedrock_body(), "eventstream", {},
                    None)
    plain = Target("gateway", f"{plain_url}{path}", openai_body(False), path, openai_body(True),
                   "sse", auth, plain_p)
    guarded = Target("gateway_guardrails", f"{guard_url}{path}", openai_body(False), path,
                     openai_body(True), "sse", auth, guard_p)
    targets = [direct, plain, guarded]

    def guardrail_calls() -> int:
        _, body = http("GET", f"{fake_url}/_fake/calls")
        return sum(json.loads(body)["guardrails"].values())

    before = guardrail_calls()
    status, body = http("POST", guarded.url, guarded.body,
                        {"Content-Type": "application/json", **auth})
    if status != 200 or guardrail_calls() - before != 2:
        raise RuntimeError(f"the guardrail gateway did not call ApplyGuardrail twice: {status} "
                           f"{body[:300]!r}")
    log("the guardrail gateway answers with two ApplyGuardrail calls per request")
    for t in targets:
        oha(t, 8, n=plan["warmup_n"], cpus=cpus)
    out: dict = {"config": "bench/config/gateway-guardrails.yaml",
                 "baseline_config": "bench/config/gateway-one-deployment.yaml"}
    c1 = latency_phase(targets, 1, plan, cpus)
    c1["added"] = {t.name: added(c1, t.name) for t in targets if t.name != "direct"}
    c1["added"]["guardrails_minus_gateway"] = added(c1, "gateway_guardrails", base="gateway")
    out["latency_c1"] = c1
    out["throughput_c64"] = latency_phase(targets, 64, plan, cpus)

    long_text = "LONG_ANSWER please"
    long_openai = json.dumps({"model": "claude-3-sonnet", "stream": True, "max_tokens": 4096,
                              "messages": [{"role": "user", "content": long_text}]}).encode()
    long_bedrock = json.dumps({"messages": [{"role": "user", "content": [{"text": long_text}]}],
                               "inferenceConfig": {"maxTokens": 4096}}).encode()
    for t in targets:
        t.stream_body = long_bedrock if t.name == "direct" else long_openai
    http("POST", f"{fake_url}/_fake/latency?per_event_ms={GUARDRAIL_LONG_STREAM_EVENT_MS}")
    n = max(2, plan["stream_n"] // 20)
    st = {t.name: ttfb(t, n, 1, cpus) for t in targets}
    http("POST", f"{fake_url}/_fake/latency?per_event_ms=0")
    st["stream_event_delay_ms"] = GUARDRAIL_LONG_STREAM_EVENT_MS
    st["n"] = n
    out["long_stream"] = st
    for t in (plain, guarded):
        s = st[t.name]
        log(f"long stream {t.name}: first token p50 {s['first_token_us']['p50'] / 1e3:.1f} ms, "
            f"whole answer p50 {s['total_us']['p50'] / 1e3:.1f} ms")
    return {"guardrails": out}


def print_guardrail_table(r: dict, md_path: Path | None = None) -> None:
    g = r["guardrails"]
    c1, tp, st = g["latency_c1"], g["throughput_c64"], g["long_stream"]
    rows = []
    for p in ("p50", "p99"):
        rows.append((f"added latency {p}, c=1 (ms)", fmt(c1["added"]["gateway"][f"{p}_ms"]),
                     fmt(c1["added"]["gateway_guardrails"][f"{p}_ms"]),
                     fmt(c1["added"]["guardrails_minus_gateway"][f"{p}_ms"]),
                     fmt(c1["direct"][f"{p}_ms"]) + " (abs)"))
    rows.append(("requests/s, c=64", fmt(tp["gateway"]["rps"], digits=0),
                 fmt(tp["gateway_guardrails"]["rps"], digits=0),
                 ratio(tp["gateway_guardrails"]["rps"], tp["gateway"]["rps"], digits=2),
                 fmt(tp["direct"]["rps"], digits=0)))
    for k, label in (("first_token_us", "first token"), ("total_us", "whole answer")):
        rows.append((f"long stream ({GUARDRAIL_LONG_STREAM_EVENT_MS} ms/event) {label} p50 (ms)",
                     fmt(st["gateway"][k]["p50"] / 1e3, digits=1),
                     fmt(st["gateway_guardrails"][k]["p50"] / 1e3, digits=1),
                     fmt((st["gateway_guardrails"][k]["p50"] - st["gateway"][k]["p50"]) / 1e3,
                         digits=1),
                     fmt(st["direct"][k]["p50"] / 1e3, digits=1) + " (abs)"))
    rows.append(("long stream: first token / whole answer, p50",
                 ratio(st["gateway"]["first_token_us"]["p50"], st["gateway"]["total_us"]["p50"],
                       digits=3),
                 ratio(st["gateway_guardrails"]["first_token_us"]["p50"],
                       st["gateway_guardrails"]["total_us"]["p50"], digits=3), "-", "-"))
    headers = ("measure", "gateway", "gateway + guardrail", "difference", "direct")
    if md_path is not None:
        md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        md += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
        md_path.write_text("\n".join(md) + "\n")
    widths = [max(len(str(x[i])) for x in rows + [headers]) for i in range(len(headers))]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("+".join("-" * (w + 2) for w in widths))
    for row in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    print(f"\nmode {r['mode']}; pinning: {r['pinning']}; RUST_LOG={r['gateway_rust_log']}; steal "
          f"over the run (per CPU, %): {r['machine'].get('steal_pct_over_run')}")


def cargo_lambda_init(bindir: str, env: dict, n: int, cpus: str | None, workdir: Path) -> dict:
    """Cross-check under cargo lambda's Runtime API emulator (`cargo lambda watch
    --only-lambda-apis`): an invoke is queued first, then the function is started; the time from
    its start to the queued invoke's answer is init + first invoke, as a cold Lambda sees it.
    Then warm invokes. The emulator has no hook at the function's first GET /next, so init alone
    comes from bench-client's own Runtime API.

    Each cold start gets a fresh emulator, as each Lambda sandbox gets a fresh Runtime API. Since
    the function registers an internal extension (the after-response queue), a second function
    process started against the same emulator gets a 500 from its first GET /next, and
    lambda_runtime panics ("missing lambda-runtime-aws-request-id header"); without the
    extension (before 21484fa) one emulator served every process.
    """
    import threading
    event = (BENCH / "events" / "chat-function-url.json").read_bytes()
    runs = []
    for i in range(n):
        port = free_port()
        watch = Proc(f"cargo-lambda-watch-{i}",
                     [str(Path(bindir) / "cargo-lambda"), "lambda", "watch", "--only-lambda-apis",
                      "-A", "127.0.0.1", "-P", str(port)],
                     dict(env, PATH=f"{bindir}:{env.get('PATH', '')}"), None, workdir)
        fn_env = dict(env)
        fn_env.update({"AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                       "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
                       "AWS_LAMBDA_FUNCTION_NAME": "_"})
        invoke_url = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        try:
            deadline = time.monotonic() + 60
            while True:
                if not watch.alive():
                    raise RuntimeError(f"cargo lambda watch exited:\n{watch.tail()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("cargo lambda watch did not listen")
                    time.sleep(0.1)
            answer: dict = {}

            def invoke():
                try:
                    answer["status"], answer["body"] = http("POST", invoke_url, event, timeout=30)
                except Exception as e:  # reported below
                    answer["error"] = e
                answer["at"] = time.monotonic()

            th = threading.Thread(target=invoke)
            th.start()
            time.sleep(0.2)  # the invoke is queued in the emulator before the function starts
            t0 = time.monotonic()
            fn = Proc(f"cargo-lambda-fn-{i}", [str(RELEASE / "chat")], fn_env, cpus, workdir)
            th.join(40)
            if "at" not in answer or answer.get("status") != 200 or \
                    b"chat.completion" not in answer.get("body", b""):
                fn.stop()
                raise RuntimeError(f"cold invoke failed: {answer}\n{fn.tail()}\n{watch.tail()}")
            cold = (answer["at"] - t0) * 1e3
            warm = []
            for _ in range(5):
                t1 = time.monotonic()
                status, body = http("POST", invoke_url, event, timeout=30)
                warm.append((time.monotonic() - t1) * 1e3)
                if status != 200 or b"chat.completion" not in body:
                    raise RuntimeError(f"warm invoke failed: {status} {body[:300]!r}")
            fn.stop()
            runs.append({"start_to_first_response_ms": cold, "warm_invoke_ms": warm})
        finally:
            watch.stop()
    return {"n": len(runs), "runs": runs,
            "start_to_first_response_ms": median([r["start_to_first_response_ms"] for r in runs]),
            "warm_invoke_ms": median([median(r["warm_invoke_ms"]) for r in runs]),
            "note": "python urllib client timing; includes the emulator's forwarding"}


def _terminated(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = main()
    except KeyboardInterrupt:
        stop_all()
        log("interrupted: every process this run started has been ended")
        code = 130
    except Exception as e:
        stop_all()
        log(f"FAILED: {e}")
        code = 1
    sys.exit(code)
