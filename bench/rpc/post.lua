-- wrk script for bench/rpc: POSTs one fixed body and prints a machine-readable summary.
-- Environment: BENCH_BODY_FILE (request body), BENCH_CONTENT_TYPE, BENCH_PATH.
local file = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE unset"), "rb"))
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "text/xml"
wrk.headers["User-Agent"] = "Python-xmlrpc/3.11"
wrk.headers["Accept-Encoding"] = "gzip"

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   -- Fields: req/s, p50 ms, p99 ms, non-2xx, socket errors, requests.
   io.write(string.format("BENCH-RESULT %.1f %.3f %.3f %d %d %d\n",
      summary.requests / seconds,
      latency:percentile(50) / 1000,
      latency:percentile(99) / 1000,
      e.status,
      e.connect + e.read + e.write + e.timeout,
      summary.requests))
end
