-- wrk_device_authorization.lua - POST /oauth/device_authorization as a TV
-- does: a form body with the demo client and a device name.  Every request
-- writes one device_authorizations row (and its event) on hearthd; against
-- the bare floor it measures the same POST.
--
--   wrk -t2 -c64 -d10s -s bench/wrk_device_authorization.lua http://127.0.0.1:PORT/oauth/device_authorization
--
-- Ends with the RESULT line of bench/wrk_report.lua (scripts/bench parses
-- it); any status other than 200 counts as an error.

wrk.method = "POST"
wrk.body = "client_id=hearth-tv-demo&device_name=Bench+TV&device_model=wrk"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

done = function(summary, latency, requests)
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local secs = summary.duration / 1e6
   local rps = 0
   if secs > 0 then
      rps = summary.requests / secs
   end
   io.write(string.format(
      "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d non2xx=%d socket_errors=%d duration_s=%.3f\n",
      rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
      e.status + socket_errors, e.status, socket_errors, secs))
end
