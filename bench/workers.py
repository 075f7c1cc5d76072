#!/usr/bin/env python3
"""Delivery latency of a trigger on another engine's stream (issue 20).

Two servers on this machine: a source (`tidepool serve`) with a `Scores`
table whose stream has both images and a `Leaderboard` table, and a worker
(`tidepool workers --source`) running the `leaderboard` example handler on
the source's stream. Each sample puts one score into the source and times
until the handler's UpdateItem shows in the source's `Leaderboard` (GetItem
every millisecond), after a random pause of 0 to 300 ms so that samples
fall anywhere in the worker's polling cycle.

The same is then measured with the mapping on the source itself (the local
engine, woken by each commit) for comparison.

Then failover: two workers share the stream through leases while a score is
put every 20 ms; the worker holding the shard is stopped (`kill -9`, or
SIGTERM, which hands its leases back) and the time from the stop to the
first delivery by the other worker is measured (a delivery is the
`Leaderboard` total moving, watched from 50 ms after the stop, when nothing
of the stopped worker's is on its way any more), for lease durations of 10 s
(the default) and 3 s. The stopped worker is started again between samples.

Usage: python3 bench/workers.py [N]   (TIDEPOOL_BIN picks the server
binary, default target/release/tidepool.) Only the standard library is used.
"""
import base64
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TIDEPOOL_BIN", os.path.join(ROOT, "target", "release", "tidepool"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=b"", headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def dynamodb(self, op, body):
        status, data = self.request("POST", "/", json.dumps(body), {
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op})
        assert status == 200, (op, data)
        return json.loads(data)

    def lambda_api(self, method, path, body):
        status, data = self.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
        assert status in (200, 201, 202), (path, data)
        return json.loads(data)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, port, work, name, env=None):
    # Nothing of the caller's environment chooses the source or the push.
    base = {k: v for k, v in os.environ.items() if k not in ("TIDEPOOL_SOURCE", "TIDEPOOL_SOURCE_PUSH")}
    log = open(os.path.join(work, f"{name}.log"), "w")
    proc = subprocess.Popen([BIN, *args, "--port", str(port), "--data-dir", os.path.join(work, name)],
                            stdout=subprocess.DEVNULL, stderr=log,
                            env={**base, "RUST_LOG": "info", **(env or {})})
    for _ in range(1000):
        try:
            c = Client(port)
            if c.request("POST", "/", b"{}", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                              "Content-Type": "application/x-amz-json-1.0"})[0] == 200:
                return proc, c
        except OSError:
            pass
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{name} did not start")


def pushed(work, name):
    """Whether the worker's log says the source pushed to it."""
    with open(os.path.join(work, f"{name}.log")) as f:
        return "the source pushes" in f.read()


def leaderboard_component():
    target = os.path.join(ROOT, "target", "wasm-examples")
    subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip2",
                    "--manifest-path", os.path.join(ROOT, "examples", "Cargo.toml"), "--target-dir", target],
                   check=True)
    return os.path.join(target, "wasm32-wasip2", "release", "leaderboard.wasm")


def deploy(c, path, arn):
    c.lambda_api("POST", "/2015-03-31/functions", {
        "FunctionName": "leaderboard", "Runtime": "wasm32-wasip2", "Role": "arn:aws:iam::000000000000:role/bench",
        "Code": {"ZipFile": base64.b64encode(open(path, "rb").read()).decode()}})
    for _ in range(3000):
        status, data = c.request("GET", "/2015-03-31/functions/leaderboard/configuration")
        if json.loads(data).get("State") == "Active":
            break
        time.sleep(0.02)
    m = c.lambda_api("POST", "/2015-03-31/event-source-mappings/", {
        "FunctionName": "leaderboard", "EventSourceArn": arn, "StartingPosition": "LATEST"})
    return m["UUID"]


def total(src, game):
    item = src.dynamodb("GetItem", {"TableName": "Leaderboard", "Key": {"game": {"S": game}}}).get("Item")
    return int(item["total"]["N"]) if item else 0


def measure(src, game, n):
    # Until the mapping delivers (at LATEST, a worker's position is fixed by
    # the first record after it started polling).
    deadline = time.time() + 60
    k = 0
    while total(src, game) == 0:
        assert time.time() < deadline, "no record was delivered"
        src.dynamodb("PutItem", {"TableName": "Scores", "Item": {
            "player": {"S": f"warm{k}"}, "game": {"S": game}, "score": {"N": "1"}}})
        k += 1
        time.sleep(0.5)
    # The warm-up records still on their way: until the total holds for 1 s.
    last, since = total(src, game), time.time()
    while time.time() - since < 1.0:
        time.sleep(0.05)
        now = total(src, game)
        if now != last:
            last, since = now, time.time()
    samples = []
    for i in range(n):
        time.sleep(random.uniform(0, 0.3))
        before = total(src, game)
        t0 = time.perf_counter()
        src.dynamodb("PutItem", {"TableName": "Scores", "Item": {
            "player": {"S": f"p{i}"}, "game": {"S": game}, "score": {"N": "1"}}})
        while (seen := total(src, game)) == before:
            time.sleep(0.001)
        samples.append((time.perf_counter() - t0) * 1e3)
        assert seen == before + 1, f"the total moved by {seen - before}: a record delivered twice?"
    samples.sort()
    q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]
    return f"{statistics.median(samples):.1f} ms | {q(0.9):.1f} ms | {q(0.99):.1f} ms | {samples[-1]:.1f} ms"


def lease_owner(src, table):
    items = src.dynamodb("Scan", {"TableName": table, "ConsistentRead": True}).get("Items", [])
    owners = [i["leaseOwner"]["S"] for i in items
              if "leaseOwner" in i and i["checkpoint"]["S"] != "SHARD_END" and not i["leaseKey"]["S"].startswith("#")]
    return owners[0] if len(owners) == 1 else None


def worker_name(work, name):
    with open(os.path.join(work, f"{name}.log")) as f:
        for line in f:
            if "shards are shared by leases" in line and "worker=" in line:
                return line.split("worker=")[1].split()[0].strip('"')
    return None


def failover(src, sp, work, component, arn, duration, signal_name, samples):
    """Stop the worker holding the shard; time to the other worker's first delivery (ms)."""
    import threading
    table = f"leases-{duration}-{signal_name}"
    game = table
    procs = {}
    args = lambda: ["workers", "--source", f"http://127.0.0.1:{sp}", "--lease-table", table,
                    "--lease-duration", str(duration)]
    for name in ("fa", "fb"):
        wname = f"{table}-{name}"
        proc, c = start(args(), free_port(), work, wname)
        procs[wname] = proc
        deploy(c, component, arn)
    stop = threading.Event()

    def writer():
        w = Client(sp)
        i = 0
        while not stop.is_set():
            w.dynamodb("PutItem", {"TableName": "Scores", "Item": {
                "player": {"S": f"f{i}"}, "game": {"S": game}, "score": {"N": "1"}}})
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    out = []
    try:
        for _ in range(samples):
            deadline = time.time() + 120
            while True:
                owner = lease_owner(src, table)
                holder = next((n for n in procs if worker_name(work, n) == owner), None)
                if holder and total(src, game) > 0:
                    break
                assert time.time() < deadline, "no worker holds the shard"
                time.sleep(0.2)
            time.sleep(1.0)
            proc = procs[holder]
            t0 = time.perf_counter()
            if signal_name == "kill":
                proc.kill()
            else:
                proc.terminate()
            proc.wait()
            time.sleep(0.05)
            before = total(src, game)
            while total(src, game) == before:
                assert time.perf_counter() - t0 < 120, "no other worker delivered"
                time.sleep(0.002)
            out.append((time.perf_counter() - t0) * 1e3)
            procs[holder], _ = start(args(), free_port(), work, holder)
    finally:
        stop.set()
        t.join()
        for p in procs.values():
            p.terminate()
            p.wait()
    return out


def main():
    random.seed(7)
    work = tempfile.mkdtemp()
    procs = []
    try:
        component = leaderboard_component()
        sp = free_port()
        proc, src = start(["serve", "--stream-shards", "1"], sp, work, "source")
        procs.append(proc)
        src.dynamodb("CreateTable", {
            "TableName": "Scores", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "player", "KeyType": "HASH"}, {"AttributeName": "game", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "player", "AttributeType": "S"},
                                     {"AttributeName": "game", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
        src.dynamodb("CreateTable", {
            "TableName": "Leaderboard", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "game", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "game", "AttributeType": "S"}]})
        arn = src.dynamodb("DescribeTable", {"TableName": "Scores"})["Table"]["LatestStreamArn"]
        print(f"{N} samples; put into the source, until the handler's write shows there")
        print("| where the trigger runs | median | p90 | p99 | max |")
        print("|---|---|---|---|---|")

        rows = [("a worker polling the source (`TIDEPOOL_SOURCE_PUSH=off`)", {"TIDEPOOL_SOURCE_PUSH": "off"}, "polled"),
                ("a worker woken by the source's push subscription", {}, "pushed")]
        for label, env, game in rows:
            proc, worker = start(["workers", "--source", f"http://127.0.0.1:{sp}"], free_port(), work, game, env)
            procs.append(proc)
            uuid = deploy(worker, component, arn)
            row = measure(src, game, N)
            assert pushed(work, game) == (game == "pushed"), f"the {game} worker was not {game}"
            print(f"| {label} | {row} |")
            worker.lambda_api("DELETE", f"/2015-03-31/event-source-mappings/{uuid}", {})
            proc.terminate()
            proc.wait()
            procs.remove(proc)

        local = deploy(src, component, arn)
        print(f"| the source itself (woken by each commit) | {measure(src, 'local', N)} |")
        # Only the workers deliver from here on.
        src.lambda_api("DELETE", f"/2015-03-31/event-source-mappings/{local}", {})

        print()
        print("Failover: the worker holding the shard stopped, until the other worker's first delivery")
        print("| lease duration | stop | samples | min | median | max |")
        print("|---|---|---|---|---|---|")
        for duration in (10, 3):
            for how in ("kill", "term"):
                s = sorted(failover(src, sp, work, component, arn, duration, how, 3))
                label = "`kill -9`" if how == "kill" else "SIGTERM"
                print(f"| {duration} s | {label} | {len(s)} | {s[0]:.0f} ms | {statistics.median(s):.0f} ms | {s[-1]:.0f} ms |")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
