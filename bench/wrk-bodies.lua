-- wrk script for bench/log.ts: POSTs distinct hashedrekord bodies, one JSON document per line of
-- args[1]. With T threads (args[2]), thread k takes lines k, k+T, k+2T, ... so no body is sent
-- twice. A thread that runs out sends GET /api/v1/log instead and says so in the summary (the
-- bench then refuses the run rather than count those).
local threads, nextId = {}, 0

function setup(thread)
  thread:set("id", nextId)
  nextId = nextId + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  reqs, sent, created, other, exhausted = {}, 0, 0, 0, 0
  local k = 0
  for line in io.lines(args[1]) do
    if k % nthreads == id then
      reqs[#reqs + 1] = wrk.format("POST", "/api/v1/log/entries", { ["Content-Type"] = "application/json" }, line)
    end
    k = k + 1
  end
end

function request()
  sent = sent + 1
  local r = reqs[sent]
  if r then return r end
  exhausted = exhausted + 1
  return wrk.format("GET", "/api/v1/log")
end

function response(status)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency)
  local c, o, x = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
    x = x + t:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format('{"created":%d,"other":%d,"exhausted":%d,"us":%d,"p50":%d,"p99":%d,"errors":%d}\n',
    c, o, x, summary.duration, latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout))
end
