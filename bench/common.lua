-- Shared helpers for the wrk scripts: one DynamoDB JSON request per call.
local M = {}
function M.req(op, body)
  return wrk.format("POST", "/", {
    ["Content-Type"] = "application/x-amz-json-1.0",
    ["X-Amz-Target"] = "DynamoDB_20120810." .. op,
  }, body)
end
-- About 1 KB of payload, as the peers' figures use.
M.payload = string.rep("x", 1000)
M.failures = 0
function M.check(status)
  if status ~= 200 then M.failures = M.failures + 1 end
end
return M
