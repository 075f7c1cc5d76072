"""The `leaderboard` example (../leaderboard) as a Lambda function in Python.

For every record of the `Scores` stream it adds the change in the player's
score to the `total` of the game's item in the table `TABLE` (default
`Leaderboard`) with `UpdateItem ADD`, through the `tidepool` module that
`tidepool build` ships beside the handler (the server's DynamoDB API, in
process).

`FAIL_AFTER_WRITES` (a probability) makes an invocation fail after its
writes, to show retries: with a mapping's `ExactlyOnce` the retried batch's
writes count once.

Build: `tidepool build examples/leaderboard-py`.
"""
import os
import random

import tidepool


def score(image):
    return int(image.get("score", {}).get("N", "0"))


def lambda_handler(event, context):
    table = os.environ.get("TABLE", "Leaderboard")
    for record in event["Records"]:
        change = record["dynamodb"]
        new, old = change.get("NewImage", {}), change.get("OldImage", {})
        image = new or old
        game = image.get("game", change.get("Keys", {}).get("game", {})).get("S")
        delta = score(new) - score(old)
        if game is None or delta == 0:
            continue
        tidepool.call("UpdateItem", {
            "TableName": table,
            "Key": {"game": {"S": game}},
            "UpdateExpression": "ADD #total :delta",
            "ExpressionAttributeNames": {"#total": "total"},
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        })
        tidepool.log(f"{game}: {delta:+d}", "debug")
    fail = float(os.environ.get("FAIL_AFTER_WRITES", "0"))
    if random.random() < fail:
        raise RuntimeError("FAIL_AFTER_WRITES: failing after the writes")
    return {}
