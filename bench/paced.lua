-- paced.lua - wrk script: the plain GET of wrk's URL, but each connection
-- waits $BENCH_DELAY_MS (default 10) between its answer and its next
-- request, so the rate stays moderate (connections x 1000 / delay per
-- second at most) and the latency measured is that of a server doing
-- something else, not of one this client saturates.  wrk times a request
-- from when it is sent, so the pause is not in the latency.  Ends with
-- wrk_report.lua's RESULT line.

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "") or 10

function delay()
   return pause
end
