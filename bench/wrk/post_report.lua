-- POST single-claim reports with ids unique per thread and request.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = (args[1] or "bench") .. "-" .. tid .. "-"
end

function request()
  counter = counter + 1
  local body = '{"id":"' .. prefix .. counter .. '","source":{"name":"bench"},"claims":[{"place":"Abu Kamal","actor":"IS","share":' .. (counter % 100) .. ',"from_actor":"SAA","occurred_at":"2017-11-10"}]}'
  return wrk.format("POST", "/v1/reports", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "bench")}, body)
end
