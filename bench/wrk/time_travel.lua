-- GET one place (BENCH_PATH) at a different time on every request, so that no answer can come
-- from the read API's cache: each one is the time-travel query itself.
--   BENCH_PARAM  as_of or known_at
--   BENCH_FROM   the start of the range, in Unix seconds
--   BENCH_SPAN   its length, in BENCH_UNIT ("s" or "us": known_at needs sub-second values)
-- Request n of thread t asks for FROM + ((n * 64 + t) * STRIDE mod SPAN): a prime stride spreads
-- the values over the whole range, and no value repeats before SPAN requests.
local STRIDE = 1000003
local path = os.getenv("BENCH_PATH")
local param = os.getenv("BENCH_PARAM")
local from = tonumber(os.getenv("BENCH_FROM"))
local span = tonumber(os.getenv("BENCH_SPAN"))
local micro = os.getenv("BENCH_UNIT") == "us"
local threads = 0
local counter = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function instant(n)
  local offset = (n * STRIDE) % span
  if not micro then
    return os.date("!%Y-%m-%dT%H:%M:%SZ", from + offset)
  end
  local seconds = from + math.floor(offset / 1000000)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%06dZ", offset % 1000000)
end

function request()
  counter = counter + 1
  return wrk.format("GET", path .. "?" .. param .. "=" .. instant(counter * 64 + tid))
end
