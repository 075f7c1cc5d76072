#!/usr/bin/env python3
"""Handlers per language, measured through the real server.

The leaderboard handler written four ways: Rust with the `store` import
(examples/leaderboard), Rust with `aws-sdk-dynamodb` over wasi:http
(examples/leaderboard-sdk), Python (examples/leaderboard-py) and JavaScript
with the AWS SDK for JavaScript v3 (examples/leaderboard-js), the last two
built with `tidepool build`. For each:

- deploy: CreateFunction until the function is `Active` (CreateFunction
  answers `Pending` while Cranelift compiles a large component; the time
  runs until GetFunctionConfiguration says `Active`), for a first function
  and for a second function with the same code (a cache hit);
- deploy (another handler): after it, CreateFunction of a different small
  handler in the same language (for Python and JavaScript the same engine
  inside, whose compiled functions Cranelift's incremental cache reuses);
- cold start: the first synchronous Invoke of the function;
- per invocation: N synchronous Invokes over one keep-alive connection,
  each a one-record stream event that makes one UpdateItem (median, p99).

Usage: python3 bench/handlers.py [N]   (TIDEPOOL_BIN picks the server
binary, default target/release/tidepool; build it first with
`cargo build --release`.) Only the standard library is used.
"""
import base64
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TIDEPOOL_BIN", os.path.join(ROOT, "target", "release", "tidepool"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
EVENT = json.dumps({"Records": [{
    "eventName": "INSERT",
    "dynamodb": {"Keys": {"game": {"S": "g"}}, "NewImage": {"game": {"S": "g"}, "score": {"N": "1"}}},
}]})


def build_examples(work):
    target = os.path.join(ROOT, "target", "wasm-examples")
    subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip2",
                    "--manifest-path", os.path.join(ROOT, "examples", "Cargo.toml"), "--target-dir", target],
                   check=True)
    out = os.path.join(target, "wasm32-wasip2", "release")
    py = os.path.join(work, "leaderboard_py.wasm")
    subprocess.run([BIN, "build", os.path.join(ROOT, "examples", "leaderboard-py"), "--out", py],
                   check=True, stdout=subprocess.DEVNULL)
    js = os.path.join(work, "leaderboard_js.wasm")
    subprocess.run([BIN, "build", os.path.join(ROOT, "examples", "leaderboard-js"), "--out", js],
                   check=True, stdout=subprocess.DEVNULL)
    # Small handlers of another shape, for "deploy (another handler)".
    hello_py = os.path.join(work, "hello-py")
    os.makedirs(hello_py)
    with open(os.path.join(hello_py, "app.py"), "w") as f:
        f.write("def handler(event, context):\n    return {'hello': context.function_name}\n")
    hello_js = os.path.join(work, "hello-js")
    os.makedirs(hello_js)
    with open(os.path.join(hello_js, "index.mjs"), "w") as f:
        f.write("export const handler = async (event, context) => ({ hello: context.functionName });\n")
    others = {}
    for lang, src in (("py", hello_py), ("js", hello_js)):
        others[lang] = os.path.join(work, f"hello_{lang}.wasm")
        subprocess.run([BIN, "build", src, "--out", others[lang]], check=True, stdout=subprocess.DEVNULL)
    return [
        ("Rust, store import", os.path.join(out, "leaderboard.wasm"), os.path.join(out, "echo.wasm")),
        ("Rust, aws-sdk-dynamodb", os.path.join(out, "leaderboard_sdk.wasm"), None),
        ("Python", py, others["py"]),
        ("JavaScript, AWS SDK v3", js, others["js"]),
    ]


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(self, method, path, body=b"", headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, data

    def dynamodb(self, op, body):
        return self.request("POST", "/", json.dumps(body), {
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op})


def deploy(c, name, path):
    """CreateFunction of the component at `path`, then GetFunctionConfiguration until Active; seconds."""
    body = json.dumps({"FunctionName": name, "Runtime": "wasm32-wasip2", "Timeout": 30,
                       "Role": "arn:aws:iam::000000000000:role/bench",
                       "Code": {"ZipFile": base64.b64encode(open(path, "rb").read()).decode()}})
    t0 = time.perf_counter()
    status, data = c.request("POST", "/2015-03-31/functions", body, {"Content-Type": "application/json"})
    assert status == 201, data
    state = json.loads(data)["State"]
    while state != "Active":
        assert state == "Pending", data
        time.sleep(0.02)
        status, data = c.request("GET", f"/2015-03-31/functions/{name}/configuration")
        state = json.loads(data)["State"]
    return time.perf_counter() - t0


def main():
    work = tempfile.mkdtemp()
    try:
        examples = build_examples(work)
        port = 8766
        server = subprocess.Popen([BIN, "serve", "--port", str(port), "--data-dir", os.path.join(work, "data")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
        try:
            c = None
            for _ in range(500):
                try:
                    c = Client(port)
                    if c.dynamodb("ListTables", {})[0] == 200:
                        break
                except OSError:
                    time.sleep(0.02)
            c.dynamodb("CreateTable", {
                "TableName": "Leaderboard", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "game", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "game", "AttributeType": "S"}]})
            print("| handler | component | deploy (first) | deploy (same code) | deploy (another handler) "
                  "| cold start | per invocation, median | p99 |")
            print("|---|---|---|---|---|---|---|---|")
            for i, (label, path, other) in enumerate(examples):
                times = [deploy(c, f"f{i}{copy}", path) for copy in ("a", "b")]
                another = "–"
                if other is not None:
                    another = f"{deploy(c, f'f{i}other', other) * 1e3:.0f} ms"
                invoke = f"/2015-03-31/functions/f{i}a/invocations"
                t0 = time.perf_counter()
                status, data = c.request("POST", invoke, EVENT)
                cold = time.perf_counter() - t0
                assert status == 200, data
                warm = []
                for _ in range(N):
                    t0 = time.perf_counter()
                    status, data = c.request("POST", invoke, EVENT)
                    warm.append(time.perf_counter() - t0)
                    assert status == 200, data
                warm.sort()
                p99 = warm[min(len(warm) - 1, int(len(warm) * 0.99))]
                size = os.path.getsize(path) / 1e6
                print(f"| {label} | {size:.1f} MB | {times[0] * 1e3:.0f} ms | {times[1] * 1e3:.0f} ms | {another} | "
                      f"{cold * 1e3:.1f} ms | {statistics.median(warm) * 1e3:.2f} ms | {p99 * 1e3:.2f} ms |")
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
