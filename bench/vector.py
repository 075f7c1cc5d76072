#!/usr/bin/env python3
"""SearchVectors at 10k and 100k items: load, then search, one client.

    python3 bench/vector.py http://127.0.0.1:8000 [--items 10000,100000]
        [--dims 128] [--searches 200] [--partitions 100]

For each size it creates a table with two vector indexes on the same
attribute (COSINE, with and without a HASH search schema), loads the items
with BatchWriteItem (random unit vectors, a `tenant` of `--partitions`
values, a title), then times `--searches` SearchVectors calls of TopK 10 on
each index (the HASH one searches one tenant's partition) and prints the
load rate, searches a second, and p50/p99 latency. The requests are
unsigned (a server with `--auth` refuses them); dynoxide accepts them as
well, so the same run measures a peer (BENCHMARKS.md, "Vector search").
Only the standard library is used: boto3 releases before 1.44 do not know
the vector members.
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import time
import urllib.parse


class Client:
    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)

    def call(self, op, body):
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810." + op,
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=0",
        }
        self.conn.request("POST", "/", data, headers)
        r = self.conn.getresponse()
        out = json.loads(r.read() or b"{}")
        if r.status != 200:
            raise RuntimeError(f"{op}: {r.status} {out}")
        return out


def unit(rng, dims):
    v = [rng.gauss(0, 1) for _ in range(dims)]
    n = sum(x * x for x in v) ** 0.5 or 1.0
    return [x / n for x in v]


def vec_json(v):
    return [{"N": f"{x:.6f}"} for x in v]


def run(endpoint, items, dims, searches, partitions):
    c = Client(endpoint)
    table = f"vbench{items}"
    try:
        c.call("DeleteTable", {"TableName": table})
        time.sleep(0.5)
    except RuntimeError:
        pass
    index = lambda name, schema: dict(  # noqa: E731
        IndexName=name,
        VectorAttribute={"AttributeName": "embedding"},
        Dimensions=dims,
        DistanceFunction="COSINE",
        Projection={"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
        **({"SearchSchema": schema} if schema else {}),
    )
    c.call(
        "CreateTable",
        {
            "TableName": table,
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "tenant", "AttributeType": "S"},
            ],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "VectorIndexes": [
                index("all", None),
                index("by-tenant", [{"AttributeName": "tenant", "SearchSchemaElementType": "HASH"}]),
            ],
        },
    )
    for _ in range(600):
        t = c.call("DescribeTable", {"TableName": table})["Table"]
        if t["TableStatus"] == "ACTIVE" and all(v["IndexStatus"] == "ACTIVE" for v in t.get("VectorIndexes", [])):
            break
        time.sleep(0.1)
    rng = random.Random(items)
    started = time.monotonic()
    for first in range(0, items, 25):
        batch = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"doc-{i:08d}"},
                        "tenant": {"S": f"t{i % partitions}"},
                        "title": {"S": f"document {i}"},
                        "embedding": {"L": vec_json(unit(rng, dims))},
                    }
                }
            }
            for i in range(first, min(first + 25, items))
        ]
        pending = {table: batch}
        while pending:
            pending = c.call("BatchWriteItem", {"RequestItems": pending}).get("UnprocessedItems") or {}
    load = items / (time.monotonic() - started)
    print(f"{endpoint} items={items} dims={dims}: loaded at {load:,.0f} items/s", flush=True)
    for name in ["all", "by-tenant"]:
        lat = []
        queries = [vec_json(unit(rng, dims)) for _ in range(searches)]
        t0 = time.monotonic()
        for n, q in enumerate(queries):
            body = {"TableName": table, "IndexName": name, "SearchVector": q, "TopK": 10}
            if name == "by-tenant":
                body["SearchConditionExpression"] = "tenant = :t"
                body["ExpressionAttributeValues"] = {":t": {"S": f"t{n % partitions}"}}
            s = time.monotonic()
            out = c.call("SearchVectors", body)
            lat.append((time.monotonic() - s) * 1000)
            assert len(out["SearchResults"]) == 10, out
        rate = searches / (time.monotonic() - t0)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(
            f"  {name}: {rate:,.1f} searches/s, p50 {statistics.median(lat):.2f} ms, p99 {p99:.2f} ms",
            flush=True,
        )
    c.call("DeleteTable", {"TableName": table})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("endpoint")
    p.add_argument("--items", default="10000,100000")
    p.add_argument("--dims", type=int, default=128)
    p.add_argument("--searches", type=int, default=200)
    p.add_argument("--partitions", type=int, default=100)
    a = p.parse_args()
    for n in [int(x) for x in a.items.split(",")]:
        run(a.endpoint, n, a.dims, a.searches, a.partitions)


if __name__ == "__main__":
    sys.exit(main())
