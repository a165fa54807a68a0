-- Shared part of the make-bench wrk scripts (loaded by each workload script with dofile).
--
-- A workload script sets wrk.method, wrk.path, wrk.headers and wrk.body, then calls bench_setup().
-- It adds:
--   * a count bound: each wrk thread stops after BENCH_MAX_REQUESTS requests (default 2,000,000), on top of
--     wrk's own -d time bound, so every load loop is bounded in count and in time;
--   * done(): one line "BENCH_JSON {...}" with the request count, errors and latency percentiles (microseconds),
--     which Tests/bench/run_bench.py reads.

local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "") or 2000000
local sent = 0
local prepared = nil

function bench_setup()
  -- The request is formatted once per thread; request() only counts.
  function init(args)
    prepared = wrk.format(wrk.method, wrk.path, wrk.headers, wrk.body)
  end

  function request()
    sent = sent + 1
    if sent >= max_requests then
      wrk.thread:stop()
    end
    return prepared
  end

  function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
      '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  end
end
