-- make bench: v1 XGBoost predict (POST /v1/models/xgb:predict), the same body for every server.
-- The body is the request.json that `Tests/bench/kserve_xgb.py --train DIR` wrote (rows for the benchmark model);
-- Tests/bench/run_bench.py passes its path in BENCH_BODY_FILE.
local path = os.getenv("BENCH_BODY_FILE")
if path == nil or path == "" then
  error("BENCH_BODY_FILE is not set: the request.json written by Tests/bench/kserve_xgb.py --train")
end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.path = "/v1/models/xgb:predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk_common.lua")
bench_setup()
