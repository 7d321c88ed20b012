-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- mix.lua - wrk script of bench/run's section 2: the same request mix for every variant, in a
-- fixed rotation per connection thread: 200s on a list and on items by id, a 404 on a missing
-- id, a 404 on an unrouted path, a 500, and a JSON POST answered 201.
local mix = {
  { "GET", "/api/items" },
  { "GET", "/api/items/1" },
  { "GET", "/api/items" },
  { "GET", "/api/items/2" },
  { "GET", "/api/items/999" },
  { "GET", "/api/items" },
  { "GET", "/api/items/3" },
  { "GET", "/api/nothing" },
  { "GET", "/api/fail" },
  { "POST", "/api/items", '{"name":"dinghy","qty":1}' },
}
local reqs = nil
local i = 0

request = function()
  if reqs == nil then
    reqs = {}
    for k, m in ipairs(mix) do
      local headers = nil
      if m[3] then
        headers = { ["Content-Type"] = "application/json" }
      end
      reqs[k] = wrk.format(m[1], m[2], headers, m[3])
    end
  end
  i = i % #reqs + 1
  return reqs[i]
end
