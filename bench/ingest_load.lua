-- wrk load script for bench_ingest.py: every event gets a unique messageId.
-- Arguments (after --): events per request (0 = one event per request to /v1/track or /v1/page), Authorization header,
-- number of distinct users.
local counter = 0
local size = 100
local users = 50000
local prefix = ""
local headers = {}

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

function init(args)
  size = tonumber(args[1])
  headers["Authorization"] = args[2]
  headers["Content-Type"] = "application/json"
  users = tonumber(args[3])
  prefix = tid .. "-" .. tostring(os.time())
  math.randomseed(tonumber(tid))
end

local PAGE = '{"type":"page","name":"Home","anonymousId":"anon-%d","messageId":"%s-%d",'
  .. '"context":{"ip":"10.0.0.1","userAgent":"bench/1.0","page":{"url":"https://shop.example/"},'
  .. '"locale":"uk-UA"},"timestamp":"2026-01-01T00:00:00.000Z"}'
local TRACK = '{"type":"track","event":"Product Viewed","userId":"user-%d","messageId":"%s-%d",'
  .. '"properties":{"sku":"SKU-%d","price":19.99,"currency":"UAH"},'
  .. '"context":{"ip":"10.0.0.1","userAgent":"bench/1.0","locale":"uk-UA"},'
  .. '"timestamp":"2026-01-01T00:00:00.000Z"}'

-- One event in ten is an anonymous page view, the rest are product views by known users.
local function event()
  counter = counter + 1
  local user = math.random(1, users)
  if counter % 10 == 0 then
    return string.format(PAGE, user, prefix, counter), "/v1/page"
  end
  return string.format(TRACK, user, prefix, counter, counter % 5000), "/v1/track"
end

function request()
  if size == 0 then
    local body, path = event()
    return wrk.format("POST", path, headers, body)
  end
  local parts = {}
  for i = 1, size do parts[i] = event() end
  local body = '{"batch":[' .. table.concat(parts, ",") .. '],"sentAt":"2026-01-01T00:00:01.000Z"}'
  return wrk.format("POST", "/v1/batch", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.status + e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    'RESULT {"requests":%d,"errors":%d,"seconds":%f,"p50_ms":%f,"p99_ms":%f}\n',
    summary.requests, errors, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
