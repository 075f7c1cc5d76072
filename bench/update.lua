-- UpdateItem: ADD 1 to a counter on one of 1,000 existing items.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
math.randomseed(9)
request = function()
  return c.req("UpdateItem", '{"TableName":"bench","Key":{"pk":{"S":"p' .. math.random(0, 999) .. '"}},'
    .. '"UpdateExpression":"ADD hits :one","ExpressionAttributeValues":{":one":{"N":"1"}}}')
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
