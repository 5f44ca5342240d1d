"""A LiteLLM user's admin script, unchanged (issue 23), against two gateway processes on one
DynamoDB table (moto_server): teams and keys made through one process are used through the
other; self-service `/key/info` and `/team/info`; model discovery with access groups;
`drop_params`; and `max_parallel_requests` held across both processes, a stream keeping its
slot until it ends (`requests` as LiteLLM's admin scripts use, `aiohttp` as its proxy tests do).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import aiohttp
import openai
import pytest
import requests

from conftest import MASTER_KEY, ROOT, _free_port, _healthy, _tail, _wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
TABLE = "litellm-compat"
STALLS = "anthropic.claude-fault-stream-stall-v1:0"

CONFIG = f"""
model_list:
  - model_name: claude-3-sonnet
    litellm_params:
      model: bedrock/anthropic.claude-3-sonnet-20240229-v1:0
      aws_region_name: us-east-1
  - model_name: claude-3-haiku
    litellm_params:
      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0
      aws_region_name: us-east-1
      input_cost_per_token: 0.00000025
      output_cost_per_token: 0.00000125
    model_info:
      access_groups: ["cheap"]
      max_input_tokens: 200000
  - model_name: stalls
    litellm_params:
      model: bedrock/{STALLS}
      aws_region_name: us-east-1
    model_info:
      access_groups: ["cheap"]
  - model_name: "bedrock/*"
    litellm_params:
      model: "bedrock/*"
      aws_region_name: us-east-1
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
router_settings:
  num_retries: 0
  stream_idle_timeout: 5
"""


def _moto_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def two_gateways(fake_bedrock, tmp_path_factory):
    """moto_server and two chat processes (local server mode) on one table."""
    work = tmp_path_factory.mktemp("compat")
    config = work / "config.yaml"
    config.write_text(CONFIG)
    procs: list[subprocess.Popen] = []
    try:
        moto_port = _free_port()
        moto_log = work / "moto.log"
        moto = subprocess.Popen(
            [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=moto_log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
        procs.append(moto)
        moto_url = f"http://127.0.0.1:{moto_port}"
        _wait_for(lambda: moto.poll() is not None or _moto_up(moto_url), 30, "moto", moto_log)
        urls = []
        for name in ("a", "b"):
            port = _free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
            env.pop("GATEWAY_LAMBDA_MODE", None)
            env.update(
                GATEWAY_CONFIG=str(config),
                LITELLM_MASTER_KEY=MASTER_KEY,
                GATEWAY_TABLE_NAME=TABLE,
                GATEWAY_CREATE_TABLES="1",
                GATEWAY_KEY_CACHE_TTL_SECS="0",
                AWS_ENDPOINT_URL_DYNAMODB=moto_url,
                AWS_ENDPOINT_URL_BEDROCK_RUNTIME=fake_bedrock.url,
                AWS_ACCESS_KEY_ID="local",
                AWS_SECRET_ACCESS_KEY="local",
                AWS_REGION="us-east-1",
                AWS_EC2_METADATA_DISABLED="true",
                PORT=str(port),
            )
            log = work / f"gateway-{name}.log"
            proc = subprocess.Popen([str(ROOT / "target/debug/chat")], stdout=log.open("wb"),
                                    stderr=subprocess.STDOUT, cwd=ROOT, env=env)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            _wait_for(lambda: proc.poll() is not None or _healthy(url), 30, f"gateway {name}", log)
            assert proc.poll() is None, f"gateway {name} exited: {_tail(log)}"
            urls.append(url)
        yield urls
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _eventually(check, seconds: float = 15.0) -> bool:
    """True once `check()` is, polling until `seconds` have passed (a cache TTL elapsing)."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def _chat(base: str, key: str, **body) -> requests.Response:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return requests.post(f"{base}/v1/chat/completions", timeout=20, json=body,
                         headers={"Authorization": f"Bearer {key}"})


def test_the_admin_script_runs_unchanged_across_two_processes(two_gateways, fake_bedrock):
    a, b = two_gateways
    team = requests.post(f"{a}/team/new", headers=ADMIN, timeout=10,
                         json={"team_alias": "analytics", "models": ["cheap"], "max_budget": 50})
    assert team.status_code == 200, team.text
    team_id = team.json()["team_id"]
    made = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                         json={"team_id": team_id, "key_alias": "etl", "models": ["cheap"],
                               "metadata": {"owner": "ann"}, "duration": "30d"})
    assert made.status_code == 200, made.text
    created = made.json()
    key = created["key"]
    for field in ("token_id", "updated_at", "created_at", "key_alias", "expires", "models",
                  "spend", "max_budget", "team_id", "user_id", "metadata"):
        assert field in created, field
    assert created["token_id"] == created["token"]

    # Made through process A, used through process B (the one table).
    client = openai.OpenAI(base_url=f"{b}/v1", api_key=key, max_retries=0, timeout=20)
    answer = client.chat.completions.create(
        model="claude-3-haiku", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert answer.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):  # outside the access group
        client.chat.completions.create(
            model="claude-3-sonnet", messages=[{"role": "user", "content": "hi"}])
    assert [m.id for m in client.models.list()] == ["claude-3-haiku", "stalls"]

    # Self-service: the key reads itself and its team, not another key.
    own = {"Authorization": f"Bearer {key}"}
    me = requests.get(f"{b}/key/info", headers=own, timeout=10)
    assert me.status_code == 200 and me.json()["info"]["key_alias"] == "etl"
    assert requests.get(f"{b}/key/info", headers=own, params={"key": key},
                        timeout=10).status_code == 200
    other = requests.post(f"{a}/key/generate", headers=ADMIN, json={}, timeout=10).json()["key"]
    refused = requests.get(f"{b}/key/info", headers=own, params={"key": other}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    mine = requests.get(f"{b}/team/info", headers=own, params={"team_id": team_id}, timeout=10)
    assert mine.status_code == 200 and mine.json()["team_info"]["team_alias"] == "analytics"
    assert requests.get(f"{b}/key/info", headers=ADMIN, params={"key": "sk-nope-00000000"},
                        timeout=10).status_code == 404

    # The master key may mint a key for a team that does not exist yet.
    later = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                          json={"team_id": "created-later"})
    assert later.status_code == 200 and later.json()["team_id"] == "created-later"

    # Model discovery: what the key may use, prices and windows, never a credential.
    info = requests.get(f"{b}/model/info", headers=own, timeout=10)
    assert info.status_code == 200
    names = sorted(d["model_name"] for d in info.json()["data"])
    assert names == ["claude-3-haiku", "stalls"]
    assert "local" not in info.text.replace("localhost", "")
    groups = requests.get(f"{a}/model_group/info", headers=ADMIN, timeout=10).json()["data"]
    haiku = next(g for g in groups if g["model_group"] == "claude-3-haiku")
    assert haiku["max_input_tokens"] == 200000 and haiku["input_cost_per_token"] == 0.00000025

    # drop_params: refused without, answered with.
    assert _chat(a, key, model="claude-3-haiku", n=2).status_code == 400
    dropped = _chat(a, key, model="claude-3-haiku", n=2, drop_params=True)
    assert dropped.status_code == 200, dropped.text
    assert "x-litellm-max-retries" in dropped.headers


def test_max_parallel_requests_hold_across_processes(two_gateways):
    a, b = two_gateways
    key = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                        json={"max_parallel_requests": 1}).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    # A stream that stalls holds its slot (on process A) until the gateway ends it.
    stream = requests.post(f"{a}/v1/chat/completions", headers=headers, stream=True, timeout=20,
                           json={"model": "stalls", "stream": True, "messages": [
                               {"role": "user", "content": "please keep talking for a while"}]})
    assert stream.status_code == 200
    # Two frames, byte by byte (iter_lines would wait for 512 bytes, which a stalled stream
    # never sends); the iterator is kept, as dropping it closes the connection.
    chunks = stream.iter_content(chunk_size=1)
    received = b""
    for chunk in chunks:
        received += chunk
        if received.count(b"\n\n") >= 2:
            break
    assert received.startswith(b"data: ")
    refused = _chat(b, key, model="claude-3-haiku")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "rate_limit_error"

    async def burst() -> list[int]:
        async with aiohttp.ClientSession(headers=headers) as session:
            async def one(base: str) -> int:
                async with session.post(f"{base}/v1/chat/completions", json={
                        "model": "claude-3-haiku",
                        "messages": [{"role": "user", "content": "hi"}]}) as r:
                    await r.read()
                    return r.status
            return await asyncio.gather(*(one(base) for base in (a, b, a, b)))

    assert asyncio.run(burst()) == [429, 429, 429, 429]
    stream.close()
    # The gateway ends the stalled stream at its idle timeout (5 s) at the latest.
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline:
        status = _chat(b, key, model="claude-3-haiku").status_code
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200, "the slot came back once the stream ended"


def test_users_and_team_members_across_processes(two_gateways):
    """Users and team membership as a LiteLLM onboarding script drives them: a user made
    through A (with its key) is seen, used and deleted through B; a user's key reads only its
    own user and may not administer."""
    a, b = two_gateways
    team = requests.post(f"{a}/team/new", headers=ADMIN, timeout=10,
                         json={"team_alias": "support"}).json()["team_id"]
    made = requests.post(f"{a}/user/new", headers=ADMIN, timeout=10,
                         json={"user_email": "ann@example.com", "user_role": "internal_user",
                               "max_budget": 10, "team_id": team})
    assert made.status_code == 200, made.text
    user = made.json()
    user_id, key = user["user_id"], user["key"]
    assert user["user_role"] == "internal_user" and user["teams"] == [team]
    assert _chat(b, key, model="claude-3-haiku").status_code == 200

    info = requests.get(f"{b}/user/info", headers=ADMIN, params={"user_id": user_id},
                        timeout=10)
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["user_info"]["user_email"] == "ann@example.com"
    assert [k["user_id"] for k in body["keys"]] == [user_id]
    assert [t["team_id"] for t in body["teams"]] == [team]
    assert key not in info.text

    # Self-service: the user's key reads its own user; not another's, and no admin call.
    own = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{b}/user/info", headers=own, timeout=10).json()["user_id"] == user_id
    bob = requests.post(f"{a}/user/new", headers=ADMIN, timeout=10,
                        json={"user_id": "bob", "auto_create_key": False}).json()
    assert bob["key"] is None
    for method, path, body in [
        ("get", "/user/info?user_id=bob", None),
        ("post", "/user/new", {"user_id": "mallory"}),
        ("post", "/user/update", {"user_id": user_id, "user_role": "proxy_admin"}),
        ("post", "/team/member_add", {"team_id": team, "member": {"user_id": "bob",
                                                                  "role": "admin"}}),
        ("post", "/user/delete", {"user_ids": ["bob"]}),
    ]:
        refused = requests.request(method, f"{b}{path}", headers=own, json=body, timeout=10)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["type"] == "permission_error"

    # Members: added through B, seen through A; LiteLLM's roles only.
    added = requests.post(f"{b}/team/member_add", headers=ADMIN, timeout=10,
                          json={"team_id": team, "member": [{"user_id": "bob", "role": "admin"}]})
    assert added.status_code == 200, added.text
    members = requests.get(f"{a}/team/info", headers=ADMIN, params={"team_id": team},
                           timeout=10).json()["team_info"]["members_with_roles"]
    assert {m["user_id"]: m["role"] for m in members} == {user_id: "user", "bob": "admin"}
    assert requests.post(f"{b}/team/member_add", headers=ADMIN, timeout=10, json={
        "team_id": team, "member": {"user_id": "bob", "role": "owner"}}).status_code == 400
    gone = requests.post(f"{a}/team/member_delete", headers=ADMIN, timeout=10,
                         json={"team_id": team, "user_id": "bob"})
    assert gone.status_code == 200 and len(gone.json()["members_with_roles"]) == 1

    # The user's teams through B's listings: /team/list?user_id= and the paged /v2/team/list.
    listed = requests.get(f"{b}/team/list", headers=ADMIN, params={"user_id": user_id},
                          timeout=10).json()
    assert [t["team_id"] for t in listed] == [team]
    paged = requests.get(f"{b}/v2/team/list", headers=ADMIN, timeout=10,
                         params={"user_id": user_id, "page": 1, "page_size": 5}).json()
    assert paged["total"] == 1 and paged["total_pages"] == 1
    assert paged["teams"][0]["team_alias"] == "support"
    assert requests.get(f"{b}/v2/team/list", headers=own, timeout=10).status_code == 403

    # Keys listed through B: a user's (hashes, never the key), and the user's own view; a key
    # blocked through A is refused through B (no key cache in this module: at once).
    second = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                           json={"user_id": user_id, "key_alias": "ann-ci"}).json()["key"]
    keys = requests.get(f"{b}/key/list", headers=ADMIN, timeout=10,
                        params={"user_id": user_id, "size": 1}).json()
    assert keys["total_count"] == 2 and keys["total_pages"] == 2 and len(keys["keys"]) == 1
    full = requests.get(f"{b}/key/list", headers=own, timeout=10,
                        params={"return_full_object": "true"}).json()
    assert sorted(k["key_alias"] or "" for k in full["keys"]) == ["", "ann-ci"]
    assert key not in str(full) and second not in str(full)
    assert requests.get(f"{b}/key/list", headers=own, timeout=10,
                        params={"user_id": "bob"}).status_code == 403
    blocked = requests.post(f"{a}/key/block", headers=ADMIN, json={"key": second}, timeout=10)
    assert blocked.status_code == 200 and blocked.json()["blocked"] is True
    assert _eventually(lambda: _chat(b, second, model="claude-3-haiku").status_code == 401)
    requests.post(f"{a}/key/unblock", headers=ADMIN, json={"key": second}, timeout=10)
    assert _eventually(lambda: _chat(b, second, model="claude-3-haiku").status_code == 200)

    listed = requests.get(f"{a}/user/list", headers=ADMIN, timeout=10).json()
    assert {u["user_id"] for u in listed["users"]} >= {user_id, "bob"}
    updated = requests.post(f"{b}/user/update", headers=ADMIN, timeout=10,
                            json={"user_id": "bob", "user_alias": "Bob"})
    assert updated.status_code == 200 and updated.json()["data"]["user_alias"] == "Bob"

    # Deleting the user through A takes its keys (refused through B) and its membership.
    deleted = requests.post(f"{a}/user/delete", headers=ADMIN, timeout=10,
                            json={"user_ids": [user_id]})
    assert deleted.status_code == 200 and deleted.json()["deleted_keys"] == 2
    assert _chat(b, key, model="claude-3-haiku").status_code == 401
    assert _chat(b, second, model="claude-3-haiku").status_code == 401
    assert requests.get(f"{b}/team/info", headers=ADMIN, params={"team_id": team},
                        timeout=10).json()["team_info"]["members_with_roles"] == []


def test_a_model_added_at_run_time_is_served_by_the_other_process(two_gateways, fake_bedrock):
    """LiteLLM's `/model/new` (`store_model_in_db`): added through A, served through B whole
    and streamed (the OpenAI SDK), updated and deleted through A; a restricted key may neither
    add a model nor use one outside its access."""
    a, b = two_gateways
    entry = {"model_name": "team-haiku",
             "litellm_params": {"model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
                                "aws_region_name": "us-east-1"},
             "model_info": {"id": "team-haiku-1"}}
    key = requests.post(f"{a}/key/generate", headers=ADMIN, json={}, timeout=10).json()["key"]
    narrow = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                           json={"models": ["claude-3-sonnet"]}).json()["key"]
    refused = requests.post(f"{a}/model/new", json=entry, timeout=10,
                            headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"

    made = requests.post(f"{a}/model/new", headers=ADMIN, json=entry, timeout=10)
    assert made.status_code == 200, made.text
    assert made.json()["model_id"] == "team-haiku-1"

    client = openai.OpenAI(base_url=f"{b}/v1", api_key=key, max_retries=0, timeout=20)
    whole = client.chat.completions.create(
        model="team-haiku", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert whole.choices[0].message.content and whole.model == "team-haiku"
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="team-haiku", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
        stream=True) if c.choices]
    assert "".join(parts)
    assert "team-haiku" in [m.id for m in client.models.list()]
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=f"{b}/v1", api_key=narrow, max_retries=0).chat.completions.create(
            model="team-haiku", messages=[{"role": "user", "content": "hi"}])
    info = requests.get(f"{b}/model/info", headers=ADMIN, timeout=10,
                        params={"litellm_model_id": "team-haiku-1"}).json()["data"]
    assert [d["model_name"] for d in info] == ["team-haiku"]

    # Credentials are never stored; the config's names are not taken.
    bad = dict(entry, model_info={"id": "x"},
               litellm_params=dict(entry["litellm_params"], aws_secret_access_key="s3cret"))
    assert requests.post(f"{a}/model/new", headers=ADMIN, json=bad,
                         timeout=10).status_code == 400
    assert requests.post(f"{a}/model/new", headers=ADMIN, timeout=10, json=dict(
        entry, model_name="claude-3-sonnet", model_info={"id": "y"})).status_code == 400

    renamed = requests.post(f"{a}/model/update", headers=ADMIN, timeout=10, json={
        "model_name": "team-haiku-v2", "model_info": {"id": "team-haiku-1"}})
    assert renamed.status_code == 200, renamed.text
    assert _chat(b, key, model="team-haiku-v2").status_code == 200
    assert _chat(b, key, model="team-haiku").status_code != 200
    gone = requests.post(f"{a}/model/delete", headers=ADMIN, json={"id": "team-haiku-1"},
                         timeout=10)
    assert gone.status_code == 200 and "deleted" in gone.json()["message"]
    assert _chat(b, key, model="team-haiku-v2").status_code != 200


def test_a_wildcard_route_reaches_a_bedrock_model_by_id(two_gateways, fake_bedrock):
    """`model_name: "bedrock/*"`: a key allowed the route calls any Bedrock model by its id,
    whole and streamed; it reaches nothing else, and a key without the route is refused."""
    a, b = two_gateways
    routed = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                           json={"models": ["bedrock/*"]}).json()["key"]
    client = openai.OpenAI(base_url=f"{b}/v1", api_key=routed, max_retries=0, timeout=20)
    model = "bedrock/anthropic.claude-3-haiku-20240307-v1:0"
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert answer.choices[0].message.content and answer.model == model
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True)
        if c.choices]
    assert "".join(parts)
    with pytest.raises(openai.PermissionDeniedError):  # a group outside the route
        client.chat.completions.create(
            model="claude-3-haiku", messages=[{"role": "user", "content": "hi"}])
    cheap = requests.post(f"{a}/key/generate", headers=ADMIN, timeout=10,
                          json={"models": ["cheap"]}).json()["key"]
    refused = _chat(b, cheap, model=model)
    assert refused.status_code == 403, refused.text
    assert _chat(b, routed, model="bedrock/converse/x").status_code == 404
