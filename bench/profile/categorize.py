#!/usr/bin/env python3
"""Buckets `perf script -F ip,sym` call stacks of the gateway into where the time goes.

Each sample goes to the first bucket that matches walking from the leaf towards the root, so a
malloc inside SigV4 signing counts as signing and a writev inside the SDK's HTTP client counts
as a socket write. Usage: perf script -i perf.data -F ip,sym | bench/profile/categorize.py
"""
import re
import sys
from collections import Counter

BUCKETS = [
    ("kernel: socket write (loopback send incl. receiver wake-up)", r"__GI___writev|__libc_write\b|__libc_send|^__send|sendmsg|^write$"),
    ("kernel: socket read", r"__libc_recv|__libc_read\b|recvfrom|__GI___readv|^read$"),
    ("kernel: epoll / futex / scheduling", r"epoll_wait|futex|sched_yield|__GI___clock_nanosleep|syscall$"),
    ("log line per request (tracing fmt + stderr write)", r"tracing_subscriber::fmt|tracing_core::event::Event::dispatch|tracing_subscriber::layer"),
    ("SDK: SigV4 signing", r"aws_sigv4|SigV4Signer|sign_request"),
    ("SDK: request serialization", r"protocol_serde::shape_converse(_input|::ser)|ser_converse|aws_smithy_json::serialize|serialize_input"),
    ("SDK: response deserialization", r"de_converse|aws_smithy_json::deserialize|deserialize_nonstreaming|protocol_serde::shape_"),
    ("SDK: endpoint resolution", r"endpoint_lib|resolve_endpoint|DefaultResolver|orchestrator::endpoints"),
    ("SDK: HTTP client (hyper client, pool)", r"hyper_util::client|hyper::client|aws_smithy_http_client|hyper::proto::h1::role::Client"),
    ("SDK: orchestrator, interceptors, config bags, builders", r"aws_smithy_runtime|aws_smithy_runtime_api|aws_runtime::|aws_sdk_bedrockruntime|aws_smithy_types|aws_types|aws_credential_types|aws_smithy_async|aws_smithy_http::"),
    ("gateway: request parse + validate (serde_json, OpenAI->Bedrock)", r"gateway::http::body|gateway::chat::|gateway::openai::request|gateway::openai::content|gateway::providers::bedrock::request|gateway::providers::bedrock::document|serde_json::de::"),
    ("gateway: response build (Bedrock->OpenAI, serde_json out)", r"gateway::openai::response|gateway::providers::bedrock::response|serde_json::ser::|axum::json"),
    ("gateway: auth, ids, other", r"gateway::|uuid::|subtle::"),
    ("server: hyper HTTP/1 + axum routing", r"hyper::proto::h1|hyper::server|axum::|hyper::body|http::header"),
    ("tokio runtime", r"tokio::"),
    ("allocator (unattributed)", r"malloc|free|realloc|memmove|memcpy|_int_"),
]
COMPILED = [(name, re.compile(p)) for name, p in BUCKETS]


def main() -> None:
    counts: Counter = Counter()
    leaf_kernel: Counter = Counter()
    total = 0
    stack: list[str] = []

    def flush() -> None:
        nonlocal total
        if not stack:
            return
        total += 1
        for frame in stack:
            for name, rx in COMPILED:
                if rx.search(frame):
                    counts[name] += 1
                    return
        counts["other"] += 1
        leaf_kernel[stack[0]] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            stack = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]+", parts[0]):
            stack.append(parts[1])
        elif len(parts) == 1 and re.fullmatch(r"[0-9a-f]+", parts[0]):
            stack.append("[unknown]")
    flush()
    print(f"{total} samples")
    for name, n in counts.most_common():
        print(f"{100 * n / total:6.1f}%  {name}")
    if leaf_kernel:
        print("\n'other' leaves:")
        for f, n in leaf_kernel.most_common(4):
            print(f"{100 * n / total:6.1f}%  {f[:100]}")


if __name__ == "__main__":
    main()
