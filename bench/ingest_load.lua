-- wrk load script for bench_ingest.py: a storefront's traffic, every event a unique messageId,
-- a random UUID (v4) as analytics.js and the server-side libraries send: ids in no order, so
-- no zone map can stand in for the dedup index.
-- Arguments (after --): events per request (0 = one event per request to /v1/<type>),
-- Authorization header, number of known (pre-seeded) contacts.
--
-- The mix (bench_ingest.storefront_event mirrors it for the in-process bounds):
--   3% new visitors (an anonymousId never seen before, landing page view);
--   97% known contacts (seeded as userId user-N, anonymousId anon-N, email), of which 60% are
--   logged in (userId + anonymousId) and 40% browse anonymously (anonymousId only);
--   by event: page 36, Product Viewed 25, Product List Viewed 5, Products Searched 5,
--   Product Added 8, Product Removed 1, Cart Viewed 2, Checkout Started 3,
--   Order Completed 2, Product Added to Wishlist 2, identify 6 (per 95 known events).
local counter = 0
local size = 100
local users = 100000
local prefix = ""
local headers = {}
-- whose ids the known people carry (argument 4): "seeded" as bench_ingest seeds them
-- (userId user-N, anonymousId anon-N, email user-N@shop.example, all stored); "lookup" as
-- bench_lookup's store holds them (userId uN, email userN@example.com; anon-N never stored:
-- each person's first events come from a new device)
local USER, EMAIL = "user-%d", "user-%d@shop.example"

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

function init(args)
  size = tonumber(args[1])
  headers["Authorization"] = args[2]
  headers["Content-Type"] = "application/json"
  users = tonumber(args[3])
  if args[4] == "lookup" then USER, EMAIL = "u%d", "user%d@example.com" end
  prefix = tid .. "-" .. tostring(os.time())
  -- a different sequence of ids in every run: the same store takes many runs
  math.randomseed(tonumber(tid) + os.time())
end

local CTX = '"context":{"ip":"10.1.%d.%d","userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)",'
  .. '"locale":"uk-UA","page":{"url":"https://shop.example/%s"},"library":{"name":"analytics.js"}}'

local function product(k)
  return string.format('{"sku":"SKU-%d","name":"Product %d","price":%d.99,"quantity":1,'
    .. '"category":"Women > Shoes","brand":"Brand %d"}', k, k, 10 + k % 90, k % 40)
end

local function who(u)
  if math.random(1, 100) <= 60 then
    return string.format('"userId":"' .. USER .. '","anonymousId":"anon-%d"', u, u)
  end
  return string.format('"anonymousId":"anon-%d"', u)
end

local random = math.random

local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", random(0, 65535),
    random(0, 65535), random(0, 65535), random(0, 4095), 32768 + random(0, 16383),
    random(0, 65535), random(0, 65535), random(0, 65535))
end

local function envelope(kind, ids, body, now)
  counter = counter + 1
  local ctx = string.format(CTX, counter % 250, counter % 200, kind)
  return string.format('{"type":"%s",%s,"messageId":"%s",%s,"timestamp":"%s"%s}',
    kind, ids, uuid4(), ctx, now, body)
end

local function track(u, name, props, now)
  return envelope("track", who(u), string.format(',"event":"%s","properties":%s', name, props), now),
    "/v1/track"
end

local function page(ids, name, now)
  return envelope("page", ids, string.format(',"name":"%s","properties":{"path":"/%s"}', name, name),
    now), "/v1/page"
end

local function known(u, now)
  local r = math.random(1, 95)
  local k = math.random(1, 5000)
  if r <= 36 then return page(who(u), "category", now) end
  if r <= 61 then return track(u, "Product Viewed", product(k), now) end
  if r <= 66 then return track(u, "Product List Viewed", '{"list_id":"shoes","category":"Shoes"}', now) end
  if r <= 71 then return track(u, "Products Searched", string.format('{"query":"boots %d"}', k % 50), now) end
  if r <= 79 then return track(u, "Product Added", product(k), now) end
  if r <= 80 then return track(u, "Product Removed", string.format('{"sku":"SKU-%d"}', k), now) end
  if r <= 82 then return track(u, "Cart Viewed", '{"products":[' .. product(k) .. ']}', now) end
  if r <= 85 then return track(u, "Checkout Started", '{"products":[' .. product(k) .. '],"currency":"UAH"}', now) end
  if r <= 87 then
    local order = string.format('{"order_id":"ord-%s-%d","total":%d.99,"currency":"UAH","products":[%s,%s]}',
      prefix, counter, 20 + k % 90, product(k), product((k * 7) % 5000 + 1))
    return track(u, "Order Completed", order, now)
  end
  if r <= 89 then return track(u, "Product Added to Wishlist", product(k), now) end
  local traits = string.format(',"traits":{"email":"' .. EMAIL .. '","firstName":"Name%d"}', u, u)
  return envelope("identify", string.format('"userId":"' .. USER .. '","anonymousId":"anon-%d"', u, u), traits, now),
    "/v1/identify"
end

local function event(now)
  if math.random(1, 100) <= 3 then
    return page(string.format('"anonymousId":"new-%s-%d"', prefix, counter), "landing", now)
  end
  return known(math.random(1, users), now)
end

function request()
  local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
  if size == 0 then
    local body, path = event(now)
    return wrk.format("POST", path, headers, body)
  end
  local parts = {}
  for i = 1, size do parts[i] = event(now) end
  local body = '{"batch":[' .. table.concat(parts, ",") .. '],"sentAt":"' .. now .. '"}'
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
