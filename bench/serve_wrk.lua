-- wrk script for bench/serve.ts: POST one real NIH PNG to /score as the raw body with the Bearer key, count
-- the answers by status (200, 503 = refused by a full queue, other), and print one JSON line at the end.
-- wrk's latency percentiles cover every answer, 503s included, so the bench sizes the service's queue to
-- hold every connection and reports the counts beside the figures.
-- Environment: CXR_BENCH_IMAGE (the PNG), CXR_SCORING_KEY (the key).
local f = assert(io.open(os.getenv("CXR_BENCH_IMAGE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "image/png"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CXR_SCORING_KEY")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, busy, other = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 503 then
    busy = busy + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local o, b, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("busy")
    x = x + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'CXR_WRK {"requests":%d,"durationUs":%d,"ok":%d,"busy":%d,"otherStatus":%d,' ..
    '"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"connectErrors":%d,"readErrors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, o, b, x,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.timeout))
end
