-- GET one path (BENCH_PATH), with If-None-Match when BENCH_ETAG is set. Set once per thread at
-- load: wrk then sends the same prebuilt request each time and runs no Lua per request.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
local etag = os.getenv("BENCH_ETAG") or ""
if etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end
-- BENCH_ENCODING: an Accept-Encoding to send, as a browser's dashboard does ("gzip, deflate, br").
local encoding = os.getenv("BENCH_ENCODING") or ""
if encoding ~= "" then
  wrk.headers["Accept-Encoding"] = encoding
end
