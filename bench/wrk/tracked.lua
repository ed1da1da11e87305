-- Wraps a request script (path in BENCH_WRK_SCRIPT) to tell the harness what was answered: per
-- thread, a count of answers by status and the report ids answered 201, written when the run ends
-- to the file named by BENCH_WRK_OUT ("status CODE COUNT" and "created ID" lines). wrk's own
-- summary cannot say which reports were answered, and the harness checks each of them is durable.
dofile(os.getenv("BENCH_WRK_SCRIPT"))

local inner_setup = setup
local all_threads = {}

function setup(thread)
  if inner_setup then inner_setup(thread) end
  table.insert(all_threads, thread)
end

-- Globals, so that done() can read each thread's copy with thread:get().
statuses = {}
created = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    created[#created + 1] = string.match(body, '"report_id"%s*:%s*"([^"]*)"') or "?"
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
  for _, thread in ipairs(all_threads) do
    for status, count in pairs(thread:get("statuses")) do
      out:write("status ", status, " ", count, "\n")
    end
    for _, id in ipairs(thread:get("created")) do
      out:write("created ", id, "\n")
    end
  end
  out:close()
end
