-- Records what a response taught and ends the route's probe.
-- ARGV: prefix, scope, route, major, global key, global window ms, margin ms, bucket ('' when
--       absent), limit, remaining, reset_after ms, retry_after ms (-1 when not a 429),
--       global 429 (0/1), slot id, probe ttl ms.
-- The request's slot is scored with the time of its response (in the log of the bucket it was
-- sent under, when the response names another); the first request of a bucket (the probe) is
-- added to the bucket's log now that the bucket is known. The route's bucket and the bucket's
-- limits expire with the last log or block that needs them, so buckets no longer used go.
local p, scope, route, major, gkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local gwindow, margin = tonumber(ARGV[6]), tonumber(ARGV[7])
local bucket, limit, remaining = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local reset_after, retry, global = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13] == '1'
local slot, probe_ttl = ARGV[14], tonumber(ARGV[15])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local probe_key = p .. 'p:' .. scope .. ':' .. route .. ':' .. major

local function block(key, untill, ttl)
  local cur = tonumber(redis.call('GET', key) or '0')
  if untill > cur then redis.call('SET', key, untill, 'PX', ttl) end
end

local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

local was_probe = redis.call('DEL', probe_key) == 1
if gkey ~= '' then redis.call('ZADD', p .. 'g:' .. gkey, 'XX', now, slot) end
if bucket ~= '' then
  local rk = p .. 'r:' .. scope .. ':' .. route
  local before = redis.call('GET', rk)
  if before and before ~= bucket then
    redis.call('ZADD', p .. 'b:' .. scope .. ':' .. before .. ':' .. major, 'XX', now, slot)
  end
  local mk = p .. 'm:' .. scope .. ':' .. bucket
  local window = tonumber(redis.call('HGET', mk, 'window') or '0')
  if reset_after > window then window = reset_after end
  redis.call('HSET', mk, 'limit', limit, 'window', window)
  local blog = p .. 'b:' .. scope .. ':' .. bucket .. ':' .. major
  local ttl = window * 2 + margin + probe_ttl
  if redis.call('ZADD', blog, 'XX', 'CH', now, slot) == 0 and was_probe and limit > 0 then
    redis.call('ZADD', blog, 'NX', now, slot)
    redis.call('ZREMRANGEBYRANK', blog, 0, -(limit + 1))
    keep(blog, ttl)
  end
  local untill = 0
  if remaining == 0 and reset_after > 0 then untill = now + reset_after + margin end
  if retry >= 0 and not global and now + retry + margin > untill then untill = now + retry + margin end
  if untill > 0 then
    block(blog .. ':blocked', untill, untill - now + 1000)
    if untill - now + 1000 > ttl then ttl = untill - now + 1000 end
  end
  redis.call('SET', rk, bucket, 'KEEPTTL')
  keep(rk, ttl)
  keep(mk, ttl)
elseif retry >= 0 and not global then
  redis.call('SET', probe_key, '1', 'PX', retry + margin)
end
if retry >= 0 and global and gkey ~= '' then
  block(p .. 'g:' .. gkey .. ':blocked', now + retry + margin, retry + margin + gwindow)
end
return 1
