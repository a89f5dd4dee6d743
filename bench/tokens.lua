-- tokens.lua - wrk script: GET $BENCH_PATH (default /v1/me) with a bearer
-- token, rotating over the access tokens bench_tool_members wrote to
-- $BENCH_MEMBERS ("email<TAB>password<TAB>token" lines; the first
-- $BENCH_TOKENS of them when that is set).  With many distinct tokens every
-- server thread must keep them all in its caches (verified tokens, sign-in
-- checks, accounts), as it must when many members are active at once
-- behind a proxy.  Ends with wrk_report.lua's RESULT line.

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")

local threads = 0
function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

local requests = {}
local next_request = 1

function init(args)
   local path = os.getenv("BENCH_MEMBERS") or error("tokens.lua: set BENCH_MEMBERS")
   local target = os.getenv("BENCH_PATH") or "/v1/me"
   local limit = tonumber(os.getenv("BENCH_TOKENS") or "") or math.huge
   for line in io.lines(path) do
      local token = line:match("^[^\t]+\t[^\t]+\t(%S+)")
      if token and #requests < limit then
         requests[#requests + 1] = wrk.format("GET", target, { Authorization = "Bearer " .. token })
      end
   end
   if #requests == 0 then error("tokens.lua: no tokens in " .. path) end
   -- The second thread starts halfway along the list, so two threads
   -- rarely send the same token at once.
   next_request = math.floor((thread_index or 0) * #requests / 2) % #requests + 1
end

function request()
   local r = requests[next_request]
   next_request = next_request % #requests + 1
   return r
end
