"""Checks what `sam build` made, from its built template: every function's folder holds an ELF
`bootstrap` for ARCH (arm64: aarch64, x86_64: x86-64), and the config layer's folder holds
gateway.yaml. Usage: check_built.py TEMPLATE [ARCH]   (ARCH defaults to arm64, samconfig.toml's)"""

import os
import sys

from cfnlint.decode import decode

path = sys.argv[1]
arch = sys.argv[2] if len(sys.argv) > 2 else "arm64"
# ELF e_machine: 183 = AArch64, 62 = x86-64.
machine, machine_name = {"arm64": (183, "aarch64"), "x86_64": (62, "x86-64")}[arch]
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
        if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != machine:
            failures.append(f"{name}: {bootstrap} is not an {machine_name} executable")
        elif not os.access(bootstrap, os.X_OK):
            failures.append(f"{name}: {bootstrap} is not executable")
        else:
            size = os.path.getsize(bootstrap) // 1024
            print(f"ok    {name}: {os.path.relpath(bootstrap, base)} ({machine_name} ELF, {size} KiB)")
    elif resource["Type"] == "AWS::Serverless::LayerVersion":
        config = os.path.join(base, props["ContentUri"], "gateway.yaml")
        if os.path.isfile(config):
            print(f"ok    {name}: gateway.yaml (mounted at /opt/gateway.yaml)")
        else:
            failures.append(f"{name}: no {config}")
if failures:
    sys.exit("\n".join(failures))
