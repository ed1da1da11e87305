-- GET one path (BENCH_PATH), with If-None-Match when BENCH_ETAG is set. Set once per thread at
-- load: wrk then sends the same prebuilt request each time and runs no Lua per request.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
local etag = os.getenv("BENCH_ETAG") or ""
if etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end
