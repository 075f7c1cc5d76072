// The `leaderboard` example (../leaderboard) as a Lambda function in
// JavaScript, with the AWS SDK for JavaScript v3 as on Lambda.
//
// For every record of the `Scores` stream it adds the change in the player's
// score to the `total` of the game's item in the table `TABLE` (default
// `Leaderboard`) with `UpdateItem ADD`. The client needs no configuration:
// region, credentials and the server's endpoint come from the environment,
// and requests to the server are served in process.
//
// `FAIL_AFTER_WRITES` (a probability) makes an invocation fail after its
// writes, to show retries: with a mapping's `ExactlyOnce` the retried batch's
// writes count once.
//
// Build: `tidepool build examples/leaderboard-js`.
import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({});
const table = process.env.TABLE ?? "Leaderboard";
const failAfterWrites = Number(process.env.FAIL_AFTER_WRITES ?? "0");

const score = (image) => Number(image?.score?.N ?? "0");

export const handler = async (event) => {
  for (const record of event.Records) {
    const change = record.dynamodb;
    const image = change.NewImage ?? change.OldImage ?? {};
    const game = (image.game ?? change.Keys?.game)?.S;
    const delta = score(change.NewImage) - score(change.OldImage);
    if (game === undefined || delta === 0) continue;
    await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { game: { S: game } },
        UpdateExpression: "ADD #total :delta",
        ExpressionAttributeNames: { "#total": "total" },
        ExpressionAttributeValues: { ":delta": { N: String(delta) } },
      }),
    );
    console.log(`${game}: ${delta > 0 ? "+" : ""}${delta}`);
  }
  if (Math.random() < failAfterWrites) {
    throw new Error("FAIL_AFTER_WRITES: failing after the writes");
  }
  return {};
};
