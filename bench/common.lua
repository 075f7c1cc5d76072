-- Shared helpers for the wrk scripts: one DynamoDB JSON request per call.
local M = {}
M.auth = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
function M.req(op, body)
  return wrk.format("POST", "/", {
    ["Content-Type"] = "application/x-amz-json-1.0",
    ["X-Amz-Target"] = "DynamoDB_20120810." .. op,
    -- Some peers insist on an Authorization header; Tidepool accepts any.
    ["Authorization"] = M.auth,
    ["X-Amz-Date"] = "20260101T000000Z",
  }, body)
end
-- About 1 KB of payload, as the peers' figures use.
M.payload = string.rep("x", 1000)
M.failures = 0
function M.check(status)
  if status ~= 200 then M.failures = M.failures + 1 end
end
return M
