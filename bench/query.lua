-- Query returning a 10-item page from one of 100 partitions of 10 items.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
math.randomseed(7)
request = function()
  return c.req("Query", '{"TableName":"qbench","KeyConditionExpression":"pk = :p",'
    .. '"ExpressionAttributeValues":{":p":{"S":"q' .. math.random(0, 99) .. '"}},"Limit":10}')
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
