-- make bench: POST the JSON body in BENCH_BODY_FILE to BENCH_PATH (the ONNX workload's v2 infer requests).
local path = os.getenv("BENCH_BODY_FILE")
local target = os.getenv("BENCH_PATH")
if path == nil or path == "" or target == nil or target == "" then
  error("set BENCH_BODY_FILE (the JSON body) and BENCH_PATH (the URL path)")
end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.path = target
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk_common.lua")
bench_setup()
