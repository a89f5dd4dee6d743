-- wrk_post.lua - POST a JSON body with a bearer token, for the households
-- benchmarks (bench/households.sh), ending with the RESULT line of
-- bench/wrk_report.lua, which it loads.
--
-- Environment: HH_WRK_REPORT  path of bench/wrk_report.lua
--              HH_BODY        the JSON body
--              HH_TOKEN       the access token
dofile(os.getenv("HH_WRK_REPORT"))

wrk.method = "POST"
wrk.body = os.getenv("HH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("HH_TOKEN")
