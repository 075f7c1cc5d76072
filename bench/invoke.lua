-- Synchronous Invoke (RequestResponse) of the trivial `echo` function over the Lambda REST API.
package.path = "bench/?.lua;" .. package.path
local c = require("common")
request = function()
  return wrk.format("POST", "/2015-03-31/functions/echo/invocations", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = c.auth,
    ["X-Amz-Date"] = "20260101T000000Z",
  }, '{"hello":"world"}')
end
response = function(status) c.check(status) end
done = function() if c.failures > 0 then print("non-200 responses: " .. c.failures) end end
