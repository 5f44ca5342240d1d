"""Transforms template.yaml offline (the SAM translator that `sam deploy` uses) and checks the
Function URL's resource policy in the result: for each way the URL can be reached, both
lambda:InvokeFunctionUrl and lambda:InvokeFunction must be granted to the right principal.

Run with the SAM venv's python (scripts/check-template.sh does). Prints one line per case."""

import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

# (parameters, principal that must hold both actions or None for no public grant)
CASES = [
    ({"FunctionUrlAuthType": "NONE", "CloudFrontMode": "none"}, "*"),
    ({"FunctionUrlAuthType": "NONE", "CloudFrontMode": "origin-verify"}, "*"),
    ({"FunctionUrlAuthType": "AWS_IAM", "CloudFrontMode": "oac"}, "cloudfront.amazonaws.com"),
    ({"FunctionUrlAuthType": "AWS_IAM", "CloudFrontMode": "none"}, None),
]


class NoManagedPolicies:
    def load(self):
        return {}


def load(path):
    template, problems = decode(path)
    if problems:
        sys.exit(f"{path}: {problems}")
    # The translator wants S3 locations; `sam build`/`sam deploy` put the real ones there.
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    return template


def parameter_values(template, overrides):
    values = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
    values.update(overrides)
    return values


def evaluate(expr, params, conditions, cache):
    """A CloudFormation condition expression, for the intrinsics our conditions use."""
    if isinstance(expr, (str, int, float, bool)) or expr is None:
        return expr
    if isinstance(expr, list):
        return [evaluate(e, params, conditions, cache) for e in expr]
    (fn, arg), = expr.items()
    if fn == "Ref":
        return params[arg]
    if fn == "Condition":
        return condition(arg, params, conditions, cache)
    if fn == "Fn::Equals":
        a, b = evaluate(arg, params, conditions, cache)
        return str(a) == str(b)
    if fn == "Fn::Not":
        return not evaluate(arg[0], params, conditions, cache)
    if fn == "Fn::And":
        return all(evaluate(a, params, conditions, cache) for a in arg)
    if fn == "Fn::Or":
        return any(evaluate(a, params, conditions, cache) for a in arg)
    if fn == "Fn::Join":
        sep, items = arg
        items = evaluate(items, params, conditions, cache)
        return sep.join(items if isinstance(items, list) else [items])
    raise ValueError(f"unsupported intrinsic {fn}")


def condition(name, params, conditions, cache):
    if name not in cache:
        cache[name] = evaluate(conditions[name], params, conditions, cache)
    return cache[name]


def grants(transformed, params):
    """(principal, action) pairs granted on ChatFunction in this deployment."""
    conditions = transformed.get("Conditions", {})
    cache = {}
    out = set()
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Permission":
            continue
        if "Condition" in resource and not condition(resource["Condition"], params, conditions, cache):
            continue
        props = resource["Properties"]
        if props["FunctionName"] not in ({"Ref": "ChatFunction"}, {"Fn::GetAtt": ["ChatFunction", "Arn"]}):
            continue
        action = props["Action"]
        if action == "lambda:InvokeFunction" and props.get("InvokedViaFunctionUrl") is not True:
            continue  # not a URL grant
        out.add((props["Principal"], action))
    return out


def main(path):
    failures = 0
    for overrides, principal in CASES:
        template = load(path)
        params = parameter_values(template, overrides)
        transformed = transform(template, params, NoManagedPolicies())
        got = grants(transformed, params)
        want = set() if principal is None else {
            (principal, "lambda:InvokeFunctionUrl"), (principal, "lambda:InvokeFunction")}
        ok = got == want
        failures += not ok
        label = ", ".join(f"{k}={v}" for k, v in overrides.items())
        print(f"{'ok  ' if ok else 'FAIL'} {label}: URL grants {sorted(got)}")
        if not ok:
            print(f"     expected {sorted(want)}")
    if failures:
        sys.exit(f"{failures} case(s) failed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
