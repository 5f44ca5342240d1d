"""A/B of /v1/embeddings: an older gateway binary (OLD) against another (NEW) on one config (the
benchmark's, with the in-memory response cache and a Titan group) and one fake Bedrock, in
alternating 5 s rounds at c=1, pinned as bench.py pins (gateways on CPU 0, fake and oha on 1).
Rows: OLD with a plain body, NEW past the cache (`use-cache: false`), NEW answered from the cache,
and the direct InvokeModel. Needs `bench/run.sh` to have built the release binaries and oha.

    BENCH_TOOLS_DIR=... python3 bench/ab_embeddings.py OLD_BIN NEW_BIN ROUNDS
"""
import json
import os
import sys
import time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b

old_bin, new_bin, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
work = b.BENCH / ".work" / "ab-embeddings"; work.mkdir(parents=True, exist_ok=True)
env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LITELLM_", "GATEWAY_"))}
env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true"})
try:
    fake = b.Proc("fake", [str(b.RELEASE / "fake-bedrock"), "--port", "0", "--latency-ms", "0",
                           "--stream-event-delay-ms", "0"], env, "1", work)
    url = None
    while url is None:
        for line in fake.log_path.read_text(errors="replace").splitlines():
            if "listening on http://127.0.0.1:" in line:
                url = line.split("listening on ", 1)[1].strip()
        time.sleep(0.05)
    cfg = b.cache_and_embeddings_config(b.BENCH / "config" / "gateway.yaml", work / "ce.yaml")
    def start(tag, binary):
        port = b.free_port()
        e = dict(env, PORT=str(port), HOST="127.0.0.1", RUST_LOG="info", GATEWAY_CONFIG=str(cfg),
                 LITELLM_MASTER_KEY=b.MASTER_KEY, AWS_ENDPOINT_URL_BEDROCK_RUNTIME=url)
        p = b.Proc(f"gw-{tag}", [binary], e, "0", work)
        u = f"http://127.0.0.1:{port}"
        b.wait_http(f"{u}/health", p, 30)
        return p, u
    old, old_url = start("old", old_bin)
    new, new_url = start("new", new_bin)
    auth = {"Authorization": f"Bearer {b.MASTER_KEY}"}
    plain = json.dumps({"model": "titan-embed", "input": b.PROMPT}).encode()
    optout = json.dumps({"model": "titan-embed", "input": b.PROMPT, "cache": {"use-cache": False}}).encode()
    T = b.Target
    targets = [T("old_plain", f"{old_url}/v1/embeddings", plain, "", b"", "", auth, old),
               T("new_optout", f"{new_url}/v1/embeddings", optout, "", b"", "", auth, new),
               T("new_hit", f"{new_url}/v1/embeddings", plain, "", b"", "", auth, new),
               T("direct", f"{url}/model/{b.EMBED_MODEL_PATH}/invoke",
                 json.dumps({"inputText": b.PROMPT}).encode(), "", b"", "", {}, None)]
    for t in targets:
        b.oha(t, 4, n=3000, cpus="1")
    res = {t.name: [] for t in targets}
    for r in range(rounds):
        for t in targets:
            m = b.oha(t, 1, seconds=5, cpus="1")
            res[t.name].append(m)
            print(f"round {r} {t.name}: p50 {m['p50_ms']:.3f} p99 {m['p99_ms']:.3f} rps {m['rps']:.0f}", flush=True)
    med = lambda xs: sorted(xs)[len(xs)//2]
    d50 = med([m["p50_ms"] for m in res["direct"]])
    for name, ms in res.items():
        print(f"{name}: p50 {med([m['p50_ms'] for m in ms]):.3f} (added {med([m['p50_ms'] for m in ms]) - d50:.3f}) p99 {med([m['p99_ms'] for m in ms]):.3f}")
finally:
    b.stop_all()
