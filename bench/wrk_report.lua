-- wrk_report.lua - make wrk end with one machine-readable line that
-- scripts/bench parses, after wrk's own human summary:
--
--   RESULT rps=... p50_ms=... p99_ms=... requests=... errors=... non2xx=... socket_errors=... duration_s=...
--
-- rps counts every completed response over the measured time.  errors is
-- non2xx + socket_errors; wrk's summary.errors.status counts responses with a
-- status of 400 or more (it names them "Non-2xx or 3xx responses"), and the
-- socket errors are connect, read, write and timeout failures.  A run with
-- errors measured something other than what it meant to, and is not a figure.

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
