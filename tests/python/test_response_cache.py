"""The response cache as an OpenAI SDK user meets it on the local server (the test config turns
it on with `mode: default_off`, so requests opt in with `cache: {"use-cache": true}`): a
repeated question is answered without a model call, whole or streamed, at cost 0."""

from __future__ import annotations

import time
import uuid

SONNET = "anthropic.claude-3-sonnet-20240229-v1:0"
USE_CACHE = {"cache": {"use-cache": True}}


def _ask(client, question: str, extra: dict | None = None, stream: bool = False):
    return client.chat.completions.with_raw_response.create(
        model="claude-3-sonnet",
        messages=[{"role": "user", "content": question}],
        stream=stream,
        extra_body=extra if extra is not None else USE_CACHE,
    )


def _records(servers, ids: set[str], timeout: float = 15.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = {r["request_id"]: r for r in servers.usage_records() if r["request_id"] in ids}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_repeated_question_is_a_free_cache_hit(client, servers):
    question = f"What is a cache? {uuid.uuid4()}"
    first = _ask(client, question)
    second = _ask(client, question)
    assert servers.calls(SONNET) == (1, 0)
    assert first.headers["x-litellm-cache-hit"] == "False"
    assert second.headers["x-litellm-cache-hit"] == "True"
    assert second.headers["x-litellm-cache-key"] == first.headers["x-litellm-cache-key"]
    a, b = first.parse(), second.parse()
    assert a.choices[0].message.content == b.choices[0].message.content
    assert b.choices[0].finish_reason == "stop"
    assert b.usage.total_tokens == a.usage.total_tokens

    records = _records(servers, {a.id, b.id})
    assert records[a.id]["cache_hit"] is False and records[a.id]["cost_usd"] > 0
    assert records[b.id]["cache_hit"] is True
    assert records[b.id]["cost_usd"] == 0 and records[b.id]["total_tokens"] == 0

    # Without opting in, the same question goes to the model.
    plain = _ask(client, question, extra={})
    assert "x-litellm-cache-key" not in plain.headers
    assert servers.calls(SONNET) == (2, 0)


def test_a_cached_answer_streams_through_the_sdk(client, servers):
    question = f"Stream me {uuid.uuid4()}"
    whole = _ask(client, question).parse().choices[0].message.content
    raw = _ask(client, question, stream=True)
    assert raw.headers["x-litellm-cache-hit"] == "True"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert servers.calls(SONNET) == (1, 0), "no stream was asked of the model"


def test_no_cache_asks_the_model_and_no_store_keeps_nothing(client, servers):
    question = f"Fresh please {uuid.uuid4()}"
    _ask(client, question, extra={"cache": {"use-cache": True, "no-store": True}})
    _ask(client, question)
    assert servers.calls(SONNET) == (2, 0), "the first answer was not stored"
    fresh = _ask(client, question, extra={"cache": {"use-cache": True, "no-cache": True}})
    assert fresh.headers["x-litellm-cache-hit"] == "False"
    assert servers.calls(SONNET) == (3, 0)
    assert _ask(client, question).headers["x-litellm-cache-hit"] == "True"
    assert servers.calls(SONNET) == (3, 0)


def test_embeddings_are_cached_too_through_the_sdk(client, servers):
    titan = "amazon.titan-embed-text-v2:0"
    texts = [f"cache me {uuid.uuid4()}", "and me"]

    def embed(extra):
        return client.embeddings.with_raw_response.create(
            model="titan-embed", input=texts, dimensions=256, extra_body=extra
        )

    def invokes() -> int:
        return servers.fake_calls().get(titan, {}).get("invoke", 0)

    first, second = embed(USE_CACHE), embed(USE_CACHE)
    assert invokes() == 2, "Titan embeds one text per call; the hit made none"
    assert first.headers["x-litellm-cache-hit"] == "False"
    assert second.headers["x-litellm-cache-hit"] == "True"
    assert second.headers["x-litellm-cache-key"] == first.headers["x-litellm-cache-key"]
    a, b = first.parse(), second.parse()
    # The SDK asked for base64 and decoded it: the same floats, bit for bit.
    assert [d.embedding for d in a.data] == [d.embedding for d in b.data]
    assert len(b.data) == 2 and len(b.data[0].embedding) == 256

    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    records = _records(servers, ids)
    miss, hit = records[first.headers["x-request-id"]], records[second.headers["x-request-id"]]
    assert miss["cache_hit"] is False and miss["cost_usd"] > 0
    assert hit["cache_hit"] is True and hit["cost_usd"] == 0

    # Without opting in (the test config's mode is default_off), the model is asked again.
    plain = embed({})
    assert "x-litellm-cache-key" not in plain.headers
    assert invokes() == 4
