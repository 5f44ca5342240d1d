"""Checks what `sam build` made, from its built template: every function's folder holds an x86-64
ELF `bootstrap`, and the config layer's folder holds gateway.yaml. Usage: check_built.py TEMPLATE"""

import os
import sys

from cfnlint.decode import decode

path = sys.argv[1]
base = os.path.dirname(path)
template, problems = decode(path)
if problems:
    sys.exit(f"{path}: {problems}")
failures = []
for name, resource in template["Resources"].items():
    props = resource.get("Properties", {})
    if resource["Type"] == "AWS::Serverless::Function":
        bootstrap = os.path.join(base, props["CodeUri"], "bootstrap")
        try:
            with open(bootstrap, "rb") as f:
                head = f.read(20)
        except OSError as e:
            failures.append(f"{name}: {e}")
            continue
        # ELF, e_machine 62 = x86-64 (CI builds Architecture=x86_64).
        if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 62:
            failures.append(f"{name}: {bootstrap} is not an x86-64 executable")
        elif not os.access(bootstrap, os.X_OK):
            failures.append(f"{name}: {bootstrap} is not executable")
        else:
            print(f"ok    {name}: {os.path.relpath(bootstrap, base)} ({os.path.getsize(bootstrap) // 1024} KiB)")
    elif resource["Type"] == "AWS::Serverless::LayerVersion":
        config = os.path.join(base, props["ContentUri"], "gateway.yaml")
        if os.path.isfile(config):
            print(f"ok    {name}: gateway.yaml (mounted at /opt/gateway.yaml)")
        else:
            failures.append(f"{name}: no {config}")
if failures:
    sys.exit("\n".join(failures))
