"""Post-deploy check: the live deployment, end to end, as a user meets it.

    python deploy/post_deploy_check.py --stack llm-gateway            # a deployed stack
    python deploy/post_deploy_check.py --url URL --master-key KEY \\
        --lex-invoke-url http://127.0.0.1:9000 --no-bedrock            # the local setup (CI)

With --stack it reads the stack's outputs (ChatFunctionUrl, MasterKeySecretArn, LexBotId,
LexBotAliasId) and the master key from Secrets Manager, with the caller's AWS credentials
(boto3's usual chain; --region or AWS_REGION). Checks, in order (README "Post-deploy check" says
what each failure means):

  models     each configured model and inference profile is ACTIVE on Bedrock
             (GetFoundationModel modelLifecycle, GetInferenceProfile destination Regions against
             deploy/inference_profiles.json)                        [skipped with --no-bedrock]
  chat       a whole answer (POST /v1/chat/completions with the master key)
  stream     a streamed answer (stream=true: SSE chunks, then [DONE])
  embed      an embedding (POST /v1/embeddings) from the config's first embedding group, if any
  key        a virtual key minted (POST /key/generate) and used for a chat
  usage      that chat's usage record read back through GET /spend/logs?api_key=...
  pii        an answer that would carry an e-mail address comes back masked, whole and streamed
  lex        a Lex turn answered: RecognizeText on the bot's live alias (deployed), or the Lex
             function invoked with events/lex-first-turn.json (--lex-invoke-url, local)

Exit status 0 when every check passed; each line says ok/FAIL and why. Standard library only,
plus boto3 for --stack and the Bedrock checks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
EMAIL = "jane.doe@example.com"
PII_QUESTION = f"Repeat this line exactly, with nothing else: Write to {EMAIL} today."


class Failed(Exception):
    pass


def http(method, url, key=None, body=None, timeout=90):
    data = b"" if body is None else json.dumps(body).encode()
    # x-api-key too: behind CloudFront OAC, CloudFront replaces Authorization with its signature;
    # x-amz-content-sha256: OAC cannot hash a POST body, the caller must (README, CloudFrontMode).
    headers = {"content-type": "application/json",
               "x-amz-content-sha256": hashlib.sha256(data).hexdigest()}
    if key:
        headers["authorization"] = f"Bearer {key}"
        headers["x-api-key"] = key
    data = data if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise Failed(f"{method} {url}: no answer ({err})") from err


def chat(base, key, model, question, stream=False):
    status, text = http("POST", f"{base}/v1/chat/completions", key,
                        {"model": model, "stream": stream, "max_tokens": 200,
                         "messages": [{"role": "user", "content": question}]})
    if status != 200:
        raise Failed(f"HTTP {status}: {text[:300]}")
    if not stream:
        answer = json.loads(text)
        return answer["choices"][0]["message"]["content"] or "", answer.get("id")
    content, done = [], False
    for line in text.splitlines():
        if line == "data: [DONE]":
            done = True
        elif line.startswith("data: "):
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise Failed(f"stream error: {chunk['error']}")
            for choice in chunk.get("choices", []):
                content.append((choice.get("delta") or {}).get("content") or "")
    if not done:
        raise Failed("the stream did not end with data: [DONE]")
    return "".join(content), None


def configured_models():
    text = (ROOT / "deploy/config/gateway.yaml").read_text()
    ids = re.findall(r"^\s+model: bedrock/(\S+)", text, re.M)
    pairs = re.findall(r"^\s+- model_name: (\S+)\n\s+litellm_params:\n\s+model: bedrock/(\S+)", text, re.M)
    embedding = [g for g, m in pairs if "titan-embed" in m or "cohere.embed" in m]
    groups = [g for g in re.findall(r"^\s+- model_name: (\S+)", text, re.M) if g not in embedding]
    lex = re.search(r"^lex:\n(?:\s+.*\n)*?\s+model: (\S+)", text, re.M)
    return ids, list(dict.fromkeys(groups)), lex.group(1) if lex else groups[0], embedding


def check_models(session, ids):
    bedrock = session.client("bedrock")
    table = json.loads((ROOT / "deploy/inference_profiles.json").read_text())
    problems = []
    for model_id in ids:
        prefix, _, base = model_id.partition(".")
        is_profile = prefix in ("us", "eu", "apac", "jp", "au", "ca", "global", "us-gov")
        fm = base if is_profile else model_id
        details = bedrock.get_foundation_model(modelIdentifier=fm)["modelDetails"]
        life = details.get("modelLifecycle", {})
        if life.get("status") != "ACTIVE":
            problems.append(f"{fm}: {life}")
        if is_profile:
            profile = bedrock.get_inference_profile(inferenceProfileIdentifier=model_id)
            regions = sorted({m["modelArn"].split(":")[3] for m in profile["models"]})
            listed = table["profiles"].get(model_id)
            if prefix != "global" and listed is not None and not set(regions) <= set(listed):
                problems.append(
                    f"{model_id} routes to {regions}, the IAM table lists {listed}: "
                    "update deploy/inference_profiles.json and template.yaml")
    if problems:
        raise Failed("; ".join(problems))
    return f"{len(ids)} model ids ACTIVE, profile Regions within the IAM table"


def lex_local(url, question):
    event = json.loads((ROOT / "events/lex-first-turn.json").read_text())
    event["inputTranscript"] = question
    status, text = http("POST", f"{url}/2015-03-31/functions/lex/invocations", body=event)
    if status != 200:
        raise Failed(f"HTTP {status}: {text[:300]}")
    return json.loads(text)


def lex_deployed(session, bot, alias, question):
    runtime = session.client("lexv2-runtime")
    return runtime.recognize_text(botId=bot, botAliasId=alias, localeId="en_US",
                                  sessionId=f"post-deploy-{uuid.uuid4().hex[:12]}", text=question)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack")
    parser.add_argument("--region")
    parser.add_argument("--url", help="the chat API's base URL (Function URL, ALB or CloudFront)")
    parser.add_argument("--master-key")
    parser.add_argument("--lex-bot-id")
    parser.add_argument("--lex-alias-id")
    parser.add_argument("--lex-invoke-url", help="local: the Lambda emulator serving the lex function")
    parser.add_argument("--no-bedrock", action="store_true", help="skip the Bedrock lifecycle checks")
    args = parser.parse_args()

    session = None
    if args.stack or not args.no_bedrock or args.lex_bot_id:
        import boto3  # only for a real account

        session = boto3.Session(region_name=args.region)
    if args.stack:
        stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        args.url = args.url or outputs.get("CloudFrontUrl") or outputs["ChatFunctionUrl"]
        args.lex_bot_id = args.lex_bot_id or outputs.get("LexBotId")
        args.lex_alias_id = args.lex_alias_id or outputs.get("LexBotAliasId")
        if not args.master_key:
            args.master_key = session.client("secretsmanager").get_secret_value(
                SecretId=outputs["MasterKeySecretArn"])["SecretString"].strip()
    if not args.url or not args.master_key:
        parser.error("give --stack, or --url and --master-key")
    base = args.url.rstrip("/")
    ids, groups, lex_model, embedding_groups = configured_models()
    model = lex_model if lex_model in groups else groups[0]
    state = {}
    failures = 0

    def check(name, run):
        nonlocal failures
        try:
            detail = run()
            print(f"ok    {name:6} {detail}")
        except Failed as err:
            failures += 1
            print(f"FAIL  {name:6} {err}")
        except Exception as err:  # noqa: BLE001 (an SDK error is a failed check, not a crash)
            failures += 1
            print(f"FAIL  {name:6} {type(err).__name__}: {err}")

    if not args.no_bedrock:
        check("models", lambda: check_models(session, ids))

    def whole():
        answer, _ = chat(base, args.master_key, model, "Say hello in five words.")
        if not answer.strip():
            raise Failed("empty answer")
        return f"{model}: {answer[:60]!r}"
    check("chat", whole)

    def streamed():
        answer, _ = chat(base, args.master_key, model, "Count from one to five.", stream=True)
        if not answer.strip():
            raise Failed("empty streamed answer")
        return f"{model}: {answer[:60]!r}"
    check("stream", streamed)

    def embed():
        if not embedding_groups:
            return "no embedding group configured"
        group = embedding_groups[0]
        status, text = http("POST", f"{base}/v1/embeddings", args.master_key,
                            {"model": group, "input": ["What is Amazon Bedrock?", "A second text."]})
        if status != 200:
            raise Failed(f"/v1/embeddings HTTP {status}: {text[:300]}")
        data = json.loads(text).get("data") or []
        sizes = [len(d.get("embedding") or []) for d in data]
        if len(sizes) != 2 or not all(sizes):
            raise Failed(f"expected two vectors, got sizes {sizes}")
        return f"{group}: 2 vectors of {sizes[0]} floats"
    check("embed", embed)

    def key():
        status, text = http("POST", f"{base}/key/generate", args.master_key,
                            {"key_alias": f"post-deploy-{uuid.uuid4().hex[:8]}", "duration": "1h",
                             "metadata": {"purpose": "post-deploy check"}})
        if status != 200:
            raise Failed(f"/key/generate HTTP {status}: {text[:300]}")
        state["key"] = json.loads(text)["key"]
        answer, _ = chat(base, state["key"], model, "Name one color.")
        if not answer.strip():
            raise Failed("empty answer with the virtual key")
        return f"minted {state['key'][:6]}..., answered {answer[:40]!r}"
    check("key", key)

    def usage():
        if "key" not in state:
            raise Failed("no virtual key (see the key check)")
        deadline = time.monotonic() + 30
        while True:
            status, text = http("GET", f"{base}/spend/logs?api_key={state['key']}", args.master_key)
            if status != 200:
                raise Failed(f"/spend/logs HTTP {status}: {text[:300]}")
            records = json.loads(text)
            records = records.get("data", records) if isinstance(records, dict) else records
            if records:
                record = records[0]
                return (f"{len(records)} record(s); model {record.get('model')}, "
                        f"tokens {record.get('total_tokens')}, spend {record.get('spend')}")
            if time.monotonic() > deadline:
                raise Failed("no usage record for the virtual key after 30 s")
            time.sleep(1)
    check("usage", usage)

    def pii():
        seen = []
        for stream in (False, True):
            answer, _ = chat(base, args.master_key, model, PII_QUESTION, stream=stream)
            if EMAIL in answer:
                raise Failed(f"the e-mail address came back unmasked ({'streamed' if stream else 'whole'}): "
                             f"{answer[:120]!r}")
            if "{EMAIL}" not in answer:
                raise Failed(f"no {{EMAIL}} placeholder in the {'streamed' if stream else 'whole'} "
                             f"answer (the model may have declined; rerun): {answer[:120]!r}")
            seen.append(answer[:50])
        return f"masked whole and streamed: {seen[0]!r}"
    check("pii", pii)

    def lex():
        question = "What is the capital of France?"
        if args.lex_invoke_url:
            reply = lex_local(args.lex_invoke_url, question)
        elif args.lex_bot_id and args.lex_alias_id:
            reply = lex_deployed(session, args.lex_bot_id, args.lex_alias_id, question)
        else:
            raise Failed("give --stack, --lex-bot-id/--lex-alias-id or --lex-invoke-url")
        messages = reply.get("messages") or []
        state_ = reply.get("sessionState", {}).get("intent", {}).get("state")
        if not messages or not messages[0].get("content"):
            raise Failed(f"no answer message: {json.dumps(reply)[:300]}")
        if state_ != "Fulfilled":
            raise Failed(f"intent state {state_}: {messages[0]['content'][:200]!r}")
        return f"Fulfilled: {messages[0]['content'][:60]!r}"
    check("lex", lex)

    if "key" in state:  # tidy up; a failure here is not the deployment's
        http("POST", f"{base}/key/delete", args.master_key, {"keys": [state["key"]]})
    print("post-deploy check: " + ("all passed" if failures == 0 else f"{failures} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
