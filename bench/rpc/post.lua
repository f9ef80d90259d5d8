-- wrk script for bench/rpc: POSTs one fixed body and prints a machine-readable summary.
-- Environment: BENCH_BODY_FILE (request body), BENCH_CONTENT_TYPE, BENCH_PATH.
--
-- BENCH_MODE picks a body per request instead (XML-RPC, from client.py's files), so that the
-- server's record cache cannot answer:
--   rotate      VM.get_record of each VM of BENCH_VMS_FILE in turn (BENCH_READ_TEMPLATE, @VM@);
--               with more VMs than the cache holds, every answer is built and encoded afresh.
--   write-read  requests alternate VM.set_name_description (BENCH_WRITE_TEMPLATE, @VM@ and
--               @VALUE@, a new value each time) and VM.get_record, over the first BENCH_WRITE_VMS
--               VMs (default 500, fewer than the cache holds, so that only the writes make
--               the reads miss). The read of a VM comes half a cycle (BENCH_WRITE_VMS requests)
--               after its write and as long before its next one, far more than the 32 requests
--               in flight: each read follows its VM's write's answer, and a write comes between
--               any two reads of a VM.
--   Both modes count XML-RPC Failure answers (HTTP 200 all the same) as errors.
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "text/xml"
wrk.headers["User-Agent"] = "Python-xmlrpc/3.11"
wrk.headers["Accept-Encoding"] = "gzip"

local function slurp(variable)
   local file = assert(io.open(assert(os.getenv(variable), variable .. " unset"), "rb"))
   local text = file:read("*a")
   file:close()
   return text
end

local mode = os.getenv("BENCH_MODE")
if mode == nil or mode == "" then
   wrk.body = slurp("BENCH_BODY_FILE")
else
   local vms = {}
   for line in slurp("BENCH_VMS_FILE"):gmatch("[^\n]+") do vms[#vms + 1] = line end
   assert(#vms > 0, "BENCH_VMS_FILE lists no VM")
   local read_template = slurp("BENCH_READ_TEMPLATE")
   -- A function as replacement: refs and values are used as they are, '%' included.
   local function fill(template, vm, value)
      return (template:gsub("@VM@", function() return vm end)
                      :gsub("@VALUE@", function() return value end))
   end
   local count = 0
   failures = 0

   if mode == "rotate" then
      local reads = {}
      for i, vm in ipairs(vms) do reads[i] = wrk.format(nil, nil, nil, fill(read_template, vm)) end
      function request()
         count = count + 1
         return reads[(count - 1) % #reads + 1]
      end
   elseif mode == "write-read" then
      local n = math.min(#vms, tonumber(os.getenv("BENCH_WRITE_VMS") or "500"))
      local half = math.floor(n / 2)
      local write_template = slurp("BENCH_WRITE_TEMPLATE")
      local reads = {}
      for i = 1, n do reads[i] = wrk.format(nil, nil, nil, fill(read_template, vms[i])) end
      function request()
         local pair = math.floor(count / 2)
         count = count + 1
         if count % 2 == 1 then
            return wrk.format(nil, nil, nil, fill(write_template, vms[pair % n + 1], "bench " .. count))
         end
         return reads[(pair + half) % n + 1]
      end
   else
      error("BENCH_MODE must be rotate or write-read, not " .. mode)
   end

   function response(status, headers, body)
      if body and body:find(">Failure<", 1, true) then failures = failures + 1 end
   end
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   local failed = 0
   for _, thread in ipairs(threads) do failed = failed + (tonumber(thread:get("failures")) or 0) end
   -- Fields: req/s, p50 ms, p99 ms, non-2xx, socket errors, requests, XML-RPC failures.
   io.write(string.format("BENCH-RESULT %.1f %.3f %.3f %d %d %d %d\n",
      summary.requests / seconds,
      latency:percentile(50) / 1000,
      latency:percentile(99) / 1000,
      e.status,
      e.connect + e.read + e.write + e.timeout,
      summary.requests,
      failed))
end
