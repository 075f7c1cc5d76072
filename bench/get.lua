-- GetItem of random existing keys among the first 10,000 put.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
math.randomseed(42)
request = function()
  return c.req("GetItem", '{"TableName":"bench","Key":{"pk":{"S":"p' .. math.random(0, 9999) .. '"}}}')
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
