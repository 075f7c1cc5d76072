-- GetItem of uniformly random items of `cargo bench --bench scale`'s table
-- (pk "p<n/10>", sk n%10) over its first ITEMS items; see BENCHMARKS.md, "Scale".
package.path = "bench/?.lua;" .. package.path
local c = require("common")
local items = tonumber(os.getenv("ITEMS") or "10000")
math.randomseed(42)
request = function()
  local n = math.random(0, items - 1)
  return c.req("GetItem", '{"TableName":"scale","Key":{"pk":{"S":"p' .. math.floor(n / 10) .. '"},"sk":{"N":"' .. (n % 10) .. '"}}}')
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
