#!/usr/bin/env python3
"""Writes `model.json` beside this script: the wire types of every input
member of DynamoDB's and DynamoDB Streams' operations, reduced from
botocore's service models (the same models the AWS SDKs are generated from).

    python3 src/dynamodb/shapes/generate.py [botocore data directory]

Without an argument it uses the botocore of the Python that runs it
(`pip install botocore`). Rerun it when AWS adds members; the output is
sorted, so a diff shows exactly what changed.
"""
import gzip
import json
import os
import sys


def load(data, service):
    base = os.path.join(data, service, "2012-08-10", "service-2.json")
    if os.path.exists(base):
        with open(base) as f:
            return json.load(f)
    with gzip.open(base + ".gz") as f:
        return json.load(f)


def reduce(model, prefix, shapes, ops, op_prefix):
    wanted = []
    for name, op in model["operations"].items():
        if "input" in op:
            ops[op_prefix + name] = prefix + op["input"]["shape"]
            wanted.append(op["input"]["shape"])
    seen = set()
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        s = model["shapes"][name]
        kind = s["type"]
        if kind == "structure":
            members = {m: prefix + v["shape"] for m, v in s["members"].items()}
            shapes[prefix + name] = ["structure", members]
            wanted.extend(v["shape"] for v in s["members"].values())
        elif kind == "list":
            shapes[prefix + name] = ["list", prefix + s["member"]["shape"]]
            wanted.append(s["member"]["shape"])
        elif kind == "map":
            shapes[prefix + name] = ["map", prefix + s["value"]["shape"]]
            wanted.append(s["value"]["shape"])
        else:
            shapes[prefix + name] = kind


def main():
    if len(sys.argv) > 1:
        data = sys.argv[1]
    else:
        import botocore

        data = os.path.join(os.path.dirname(botocore.__file__), "data")
    shapes, ops = {}, {}
    reduce(load(data, "dynamodb"), "", shapes, ops, "")
    reduce(load(data, "dynamodbstreams"), "streams.", shapes, ops, "streams.")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.json")
    with open(out, "w") as f:
        json.dump({"operations": ops, "shapes": shapes}, f, sort_keys=True, indent=0, separators=(",", ":"))
        f.write("\n")
    print(f"{out}: {len(ops)} operations, {len(shapes)} shapes")


if __name__ == "__main__":
    main()
