#!/usr/bin/env python3
"""Make standalone JSON schemas for the built-in kinds xpyd emits.

Input: the `v1.37.0-local-strict` folder of the kubernetes-validate 1.37.0 wheel
(PyPI; Apache-2.0), whose per-kind files point into `_definitions.json` with
`$ref`s. Output: one self-contained schema per kind, every `$ref` inlined, so the
tests need neither the 1.8 MB definitions file nor any reference resolution.

Usage: inline_refs.py SCHEMA_DIR OUT_DIR
"""
import json
import sys

KINDS = {
    "horizontalpodautoscaler-autoscaling-v2.json": "horizontalpodautoscaler-autoscaling-v2.json",
    "service-v1.json": "service-v1.json",
    "objectmeta-meta-v1.json": "objectmeta-meta-v1.json",
    "serviceaccount-v1.json": "serviceaccount-v1.json",
    "role-rbac-v1.json": "role-rbac-v1.json",
    "rolebinding-rbac-v1.json": "rolebinding-rbac-v1.json",
    "job-batch-v1.json": "job-batch-v1.json",
    "configmap-v1.json": "configmap-v1.json",
}


def main():
    src, out = sys.argv[1], sys.argv[2]
    defs = json.load(open(f"{src}/_definitions.json"))["$defs"]

    def resolve(node, stack):
        if isinstance(node, list):
            return [resolve(x, stack) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].split("/")[-1]
            if name in stack:
                raise SystemExit(f"recursive $ref {name}")
            target = resolve(defs[name], stack + [name])
            merged = dict(target)
            for k, v in node.items():
                if k not in ("$ref", "description"):
                    merged[k] = resolve(v, stack)
            return merged
        return {k: resolve(v, stack) for k, v in node.items() if k != "description"}

    for name, dest in KINDS.items():
        schema = json.load(open(f"{src}/{name}"))
        schema.pop("$id", None)
        standalone = resolve(schema, [])
        with open(f"{out}/{dest}", "w") as f:
            json.dump(standalone, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
