-- wrk_token_pending.lua - POST /oauth/token with the device_code grant while
-- the member has not answered: what every waiting TV does every few seconds.
-- Each poll reads the code, records the poll time (and, polled this fast,
-- grows the interval: slow_down), and answers 400 with an OAuth error.
--
--   BENCH_DEVICE_CODES=FILE wrk -t2 -c64 -d10s -s bench/wrk_token_pending.lua http://127.0.0.1:PORT/oauth/token
--   (or: wrk ... URL -- FILE)
--
-- FILE holds one device_code per line (made beforehand with POST
-- /oauth/device_authorization); the polls cycle through them, each thread
-- from its own offset, so the load is spread over many codes as it is in
-- production.  Without a file one fixed, unknown code is sent.
--
-- The expected answer is 400 (authorization_pending or slow_down) from
-- hearthd and 200 from the floor; only other statuses and socket errors
-- count as errors in the RESULT line (the format of bench/wrk_report.lua).

local codes = {}
local index = 1
local unexpected = 0
local threads = {}
local next_id = 0

local GRANT = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"

setup = function(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

init = function(args)
   local file = args[1] or os.getenv("BENCH_DEVICE_CODES")
   if file and #file > 0 then
      for line in io.lines(file) do
         if #line > 0 then
            table.insert(codes, line)
         end
      end
   end
   if #codes == 0 then
      table.insert(codes, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
   end
   index = ((id or 0) * 7919) % #codes + 1
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

request = function()
   local code = codes[index]
   index = index % #codes + 1
   return wrk.format(nil, nil, nil,
      "grant_type=" .. GRANT .. "&client_id=hearth-tv-demo&device_code=" .. code)
end

response = function(status, headers, body)
   if status ~= 400 and status ~= 200 then
      unexpected = unexpected + 1
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local bad = 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("unexpected") or 0)
   end
   local secs = summary.duration / 1e6
   local rps = 0
   if secs > 0 then
      rps = summary.requests / secs
   end
   io.write(string.format(
      "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d non2xx=%d socket_errors=%d duration_s=%.3f\n",
      rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
      bad + socket_errors, e.status, socket_errors, secs))
end
