-- make bench: v1 small JSON predict (POST /v1/models/echo:predict), the same body for every server.
wrk.method = "POST"
wrk.path = "/v1/models/echo:predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}'
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk_common.lua")
bench_setup()
