-- make bench: v2 small JSON infer (POST /v2/models/echo/infer), one FP32 [2,4] input.
wrk.method = "POST"
wrk.path = "/v2/models/echo/infer"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"bench","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP32",' ..
  '"data":[6.8,2.8,4.8,1.4,6.0,3.4,4.5,1.6]}]}'
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk_common.lua")
bench_setup()
