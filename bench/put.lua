-- PutItem of 1 KB items with fresh keys p0, p1, ... (also the preload for get/update).
package.path = "bench/?.lua;" .. package.path
local c = require("common")
-- BENCH_TABLE picks the table (bench/run.sh also writes to one with a stream).
local tbl = os.getenv("BENCH_TABLE") or "bench"
local n = 0
request = function()
  local body = '{"TableName":"' .. tbl .. '","Item":{"pk":{"S":"p' .. n .. '"},"data":{"S":"' .. c.payload .. '"}}}'
  n = n + 1
  return c.req("PutItem", body)
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
