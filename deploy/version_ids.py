"""Versions that follow their source: the logical ids of the guardrail's and the Lex bot's
version resources carry a hash of what they snapshot.

CloudFormation creates an AWS::Bedrock::GuardrailVersion or AWS::Lex::BotVersion once; changing
the guardrail's policies or the bot's intents later updates only DRAFT, and the functions and the
`live` alias would keep version 1. With the hash in the logical id, a change to the source (the
Guardrail's or QAAssistantBot's Properties, and the definitions of the parameters they use) is a
new resource: CloudFormation creates the new version, points every reference at it, then deletes
the old one. A parameter value given at deploy time (e.g. GuardrailHateStrength=LOW) is not in the
template text, so the guardrail version's Description also names every strength through !Sub: a
new Description is a new version (Description is create-only for AWS::Bedrock::GuardrailVersion).

  python deploy/version_ids.py           # rewrite template.yaml's ids after editing the source
  python deploy/version_ids.py --check   # CI (scripts/check-template.sh): fail when stale
"""

import hashlib
import json
import re
import sys

import yaml

TEMPLATE = "template.yaml"
# version resource prefix -> (source resource, the version's type)
VERSIONS = {
    "GuardrailVersion": ("Guardrail", "AWS::Bedrock::GuardrailVersion"),
    "QAAssistantBotVersion": ("QAAssistantBot", "AWS::Lex::BotVersion"),
}


class _Tagged(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as {"!Tag": value}."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"!" + suffix: value}


_Tagged.add_multi_constructor("!", _tagged)


def load(text):
    return yaml.load(text, Loader=_Tagged)  # noqa: S506 (SafeLoader subclass)


def _refs(value, out):
    """Names of parameters a value references (!Ref X, ${X} in !Sub)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "!Ref" and isinstance(inner, str):
                out.add(inner)
            elif key == "!Sub":
                text = inner if isinstance(inner, str) else inner[0]
                out.update(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
            _refs(inner, out)
    elif isinstance(value, list):
        for inner in value:
            _refs(inner, out)


def source_hash(template, source):
    """Eight hex digits of the source resource's Properties and the parameters they use."""
    props = template["Resources"][source]["Properties"]
    names = set()
    _refs(props, names)
    params = {n: template.get("Parameters", {}).get(n) for n in sorted(names)}
    canonical = json.dumps({"properties": props, "parameters": params}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8].upper()


def expected_ids(text):
    template = load(text)
    return {prefix: prefix + source_hash(template, source) for prefix, (source, _) in VERSIONS.items()}


def current_ids(text):
    template = load(text)
    found = {}
    for prefix, (_, kind) in VERSIONS.items():
        names = [n for n, r in template["Resources"].items() if n.startswith(prefix) and r.get("Type") == kind]
        if len(names) != 1:
            sys.exit(f"version_ids: expected one {kind} named {prefix}<hash>, found {names}")
        found[prefix] = names[0]
    return found


def rewrite(text):
    current, wanted = current_ids(text), expected_ids(text)
    for prefix, old in current.items():
        new = wanted[prefix]
        # The resource's key (two spaces under Resources) and every !GetAtt / !Ref of it; the
        # stack's outputs keep their names.
        head, rest = text.split("\nResources:\n", 1)
        resources, outputs = rest.split("\nOutputs:\n", 1)
        resources = re.sub(rf"^  {old}:$", f"  {new}:", resources, flags=re.M)
        text = f"{head}\nResources:\n{resources}\nOutputs:\n{outputs}"
        text = re.sub(rf"(!GetAtt |!Ref |\$\{{){old}\b", rf"\g<1>{new}", text)
    return text


def main():
    text = open(TEMPLATE).read()
    updated = rewrite(text)
    if "--check" in sys.argv:
        if updated != text:
            stale = {k: v for k, v in expected_ids(text).items() if v != current_ids(text)[k]}
            sys.exit(
                f"version_ids: template.yaml's version ids are stale (want {stale}); "
                "run `python deploy/version_ids.py` and commit"
            )
        print(f"version ids up to date: {sorted(current_ids(text).values())}")
        return
    if updated != text:
        open(TEMPLATE, "w").write(updated)
    print(f"version ids: {sorted(current_ids(updated).values())}")


if __name__ == "__main__":
    main()
