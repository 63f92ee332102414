-- Takes a slot from the global log and the route's bucket atomically, or says how long to wait.
-- ARGV: prefix, scope, route, major, global key ('' when exempt), global limit, global window ms,
--       margin ms, probe ttl ms, slot id.
-- Logs are sorted sets of slot ids scored by time; an in-flight slot is scored now + probe ttl
-- until observe.lua scores it with the time of its response. Every step is a hash lookup or a
-- sorted-set operation in O(log n); entries older than two windows are dropped as they age,
-- so a log holds the traffic of its last two windows, whatever its limit.
-- Returns {status, wait_ms, global_reason}: status 1 = go, 2 = go as the probe, 0 = wait
-- (global_reason 1 when the global limit is the reason, 2 when an unknown bucket's probe is).
local p, scope, route, major, gkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local glimit, gwindow = tonumber(ARGV[6]), tonumber(ARGV[7])
local margin, probe_ttl, slot = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function log_wait(key, limit, window)
  local wait = 0
  local blocked = tonumber(redis.call('GET', key .. ':blocked') or '0')
  if blocked > now then wait = blocked - now end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window * 2 - margin))
  if limit > 0 and redis.call('ZCARD', key) >= limit then
    local kth = redis.call('ZREVRANGE', key, limit - 1, limit - 1, 'WITHSCORES')
    local w = tonumber(kth[2]) + window + margin - now
    if w > wait then wait = w end
  end
  return wait
end

local gwait = 0
local glog = p .. 'g:' .. gkey
if gkey ~= '' then gwait = log_wait(glog, glimit, gwindow) end

local rk = p .. 'r:' .. scope .. ':' .. route
local bucket = redis.call('GET', rk)
local mk, limit, window = nil, 0, 0
if bucket then
  mk = p .. 'm:' .. scope .. ':' .. bucket
  local meta = redis.call('HMGET', mk, 'limit', 'window')
  -- a bucket whose meta is gone counts as unknown: its next request probes again
  if meta[1] then
    limit = tonumber(meta[1]) or 0
    window = tonumber(meta[2] or '0') or 0
  else
    bucket = false
  end
end
local bwait, probe, held, blog = 0, false, false, nil
local probe_key = p .. 'p:' .. scope .. ':' .. route .. ':' .. major
if not bucket then
  probe = true
  local ttl = redis.call('PTTL', probe_key)
  if ttl > 0 then bwait = ttl elseif ttl == -1 then bwait = probe_ttl end
else
  blog = p .. 'b:' .. scope .. ':' .. bucket .. ':' .. major
  bwait = log_wait(blog, limit, window)
  -- a probe of this major still in flight (sent before its bucket was learned from another
  -- major's response) is in no log yet: wait for it to be counted
  local ttl = redis.call('PTTL', probe_key)
  if ttl > 0 and ttl > bwait then bwait, held = ttl, true end
end

if gwait > 0 or bwait > 0 then
  if gwait >= bwait then return {0, gwait, 1} end
  if probe or held then return {0, bwait, 2} end
  return {0, bwait, 0}
end

if gkey ~= '' then
  redis.call('ZADD', glog, now + probe_ttl, slot)
  redis.call('ZREMRANGEBYRANK', glog, 0, -(glimit + 1))
  redis.call('PEXPIRE', glog, gwindow * 2 + margin + probe_ttl)
end
if probe then
  redis.call('SET', probe_key, '1', 'PX', probe_ttl)
  return {2, 0, 0}
end
if limit > 0 then
  local ttl = window * 2 + margin + probe_ttl
  redis.call('ZADD', blog, now + probe_ttl, slot)
  redis.call('ZREMRANGEBYRANK', blog, 0, -(limit + 1))
  redis.call('PEXPIRE', blog, ttl)
  -- the route and its bucket outlive every log of the bucket
  if redis.call('PTTL', mk) < ttl then redis.call('PEXPIRE', mk, ttl) end
  if redis.call('PTTL', rk) < ttl then redis.call('PEXPIRE', rk, ttl) end
end
return {1, 0, 0}
