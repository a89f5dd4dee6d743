-- signin.lua - wrk script: POST /v1/sessions (sign-in) rotating over the
-- members bench_tool_members wrote to $BENCH_MEMBERS
-- ("email<TAB>password<TAB>token" lines).  Every wrk thread starts at a
-- different member and takes the next one for each request, so successive
-- sign-ins hash against different stored hashes, as real traffic does.
-- Every answer should be 201: successful sign-ins are not throttled, and a
-- wrong one (4xx) counts as an error that invalidates the run.
-- Ends with wrk_report.lua's RESULT line ($BENCH_LUA_DIR, default ./bench).

dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/wrk_report.lua")

local threads = 0
function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

local requests = {}
local next_request = 1

local function json_string(s)
   return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function init(args)
   local path = os.getenv("BENCH_MEMBERS") or error("signin.lua: set BENCH_MEMBERS")
   local headers = { ["Content-Type"] = "application/json" }
   for line in io.lines(path) do
      local email, password = line:match("^([^\t]+)\t([^\t]+)\t")
      if email then
         local body = '{"email":' .. json_string(email) .. ',"password":' .. json_string(password) ..
            ',"device":{"name":"bench","type":"web"}}'
         requests[#requests + 1] = wrk.format("POST", "/v1/sessions", headers, body)
      end
   end
   if #requests == 0 then error("signin.lua: no members in " .. path) end
   next_request = ((thread_index or 0) * 7) % #requests + 1
end

function request()
   local r = requests[next_request]
   next_request = next_request % #requests + 1
   return r
end
