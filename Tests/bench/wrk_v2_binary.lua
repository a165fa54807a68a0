-- make bench: v2 binary 4 MB FP32 echo, as tritonclient sends it: a JSON header of Inference-Header-Content-Length
-- bytes, then the raw tensor (1,048,576 x 1.0f little-endian = 4 MiB), binary outputs requested.
local elements = 1048576
local header = '{"id":"bench","inputs":[{"name":"input-0","shape":[1,' .. elements .. '],"datatype":"FP32",' ..
  '"parameters":{"binary_data_size":' .. (elements * 4) .. '}}],"parameters":{"binary_data_output":true}}'
wrk.method = "POST"
wrk.path = "/v2/models/echo/infer"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = tostring(#header)
wrk.body = header .. string.rep("\0\0\128\63", elements)
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "wrk_common.lua")
bench_setup()
