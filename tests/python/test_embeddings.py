"""`/v1/embeddings` through the official OpenAI SDK on the local server: Titan and Cohere on the
fake Bedrock's InvokeModel, float and base64 (the SDK's default), batches, dimensions, the usage
record's tokens and cost, and clear 400s for what Bedrock cannot embed."""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from conftest import EMBEDDING_MODELS, EMBEDDING_PRICE


def _invoke_calls(servers, model_id: str) -> int:
    return servers.fake_calls().get(model_id, {}).get("invoke", 0)


def _record(servers, request_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in servers.usage_records():
            if r["request_id"] == request_id:
                return r
        time.sleep(0.1)
    raise AssertionError(f"no usage record for {request_id}")


def test_titan_embeddings_float_and_base64(client, servers):
    # The SDK asks for base64 unless told otherwise, and decodes it.
    raw = client.embeddings.with_raw_response.create(
        model="titan-embed", input="the quick brown fox", dimensions=256
    )
    answer = raw.parse()
    assert answer.object == "list" and answer.model == "titan-embed"
    vector = answer.data[0].embedding
    assert len(vector) == 256 and answer.data[0].index == 0
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-3, "Titan normalizes"
    assert answer.usage.prompt_tokens == 4 and answer.usage.total_tokens == 4
    floats = client.embeddings.create(
        model="titan-embed", input="the quick brown fox", dimensions=256, encoding_format="float"
    )
    assert [round(x, 5) for x in floats.data[0].embedding] == [round(x, 5) for x in vector]
    assert _invoke_calls(servers, EMBEDDING_MODELS["titan-embed"]) == 2

    record = _record(servers, raw.headers["x-request-id"])
    assert record["model"] == "titan-embed" and record["prompt_tokens"] == 4
    assert record["cost_usd"] == pytest.approx(4 * EMBEDDING_PRICE)


def test_cohere_batches_keep_their_order(client, servers):
    texts = [f"document {i}" for i in range(100)]
    answer = client.embeddings.create(model="cohere-embed", input=texts)
    assert [d.index for d in answer.data] == list(range(100))
    assert len(answer.data[0].embedding) == 1024
    assert answer.usage.prompt_tokens == 200
    assert _invoke_calls(servers, EMBEDDING_MODELS["cohere-embed"]) == 2, "96 + 4"


def test_what_bedrock_cannot_embed_is_a_400_naming_the_field(client, servers):
    cases = [
        (dict(model="titan-embed", input=[[1, 2, 3]]), "input"),
        (dict(model="titan-embed", input="x", dimensions=300), "dimensions"),
        (dict(model="claude-3-sonnet", input="x"), "model"),
    ]
    for kwargs, param in cases:
        with pytest.raises(openai.BadRequestError) as err:
            client.embeddings.create(**kwargs)
        assert err.value.param == param, kwargs
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="titan-embed", messages=[{"role": "user", "content": "hi"}]
        )
    assert "/v1/embeddings" in err.value.message
    assert servers.total_calls() == 0
    assert all(_invoke_calls(servers, m) == 0 for m in EMBEDDING_MODELS.values())


def test_the_path_without_v1_works_too(servers):
    request = urllib.request.Request(
        f"{servers.gateway_url}/embeddings",
        data=json.dumps({"model": "titan-embed", "input": "hi"}).encode(),
        headers={"Authorization": "Bearer sk-local-dev-key", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        body = json.load(r)
    assert len(body["data"][0]["embedding"]) == 1024
