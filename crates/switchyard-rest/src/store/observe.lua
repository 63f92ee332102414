-- Records what a response taught and ends the route's probe.
-- ARGV: prefix, scope, route, major, global key, global window ms, margin ms, bucket ('' when
--       absent), limit, remaining, reset_after ms, retry_after ms (-1 when not a 429),
--       global 429 (0/1), slot id.
-- The request's slot is scored with the time of its response; the first request of a bucket
-- (the probe) is added to the bucket's log now that the bucket is known.
local p, scope, route, major, gkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local gwindow, margin = tonumber(ARGV[6]), tonumber(ARGV[7])
local bucket, limit, remaining = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local reset_after, retry, global = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13] == '1'
local slot = ARGV[14]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = 86400000
local probe_key = p .. 'p:' .. scope .. ':' .. route .. ':' .. major

local function block(key, untill, ttl)
  local cur = tonumber(redis.call('GET', key) or '0')
  if untill > cur then redis.call('SET', key, untill, 'PX', ttl) end
end

local was_probe = redis.call('DEL', probe_key) == 1
if gkey ~= '' then redis.call('ZADD', p .. 'g:' .. gkey, 'XX', now, slot) end
if bucket ~= '' then
  local routes = p .. 'r:' .. scope
  redis.call('HSET', routes, route, bucket)
  redis.call('PEXPIRE', routes, day)
  local mk = p .. 'm:' .. scope .. ':' .. bucket
  local window = tonumber(redis.call('HGET', mk, 'window') or '0')
  if reset_after > window then window = reset_after end
  redis.call('HSET', mk, 'limit', limit, 'window', window)
  redis.call('PEXPIRE', mk, day)
  local blog = p .. 'b:' .. scope .. ':' .. bucket .. ':' .. major
  if redis.call('ZADD', blog, 'XX', 'CH', now, slot) == 0 and was_probe and limit > 0 then
    redis.call('ZADD', blog, 'NX', now, slot)
    redis.call('ZREMRANGEBYRANK', blog, 0, -(limit + 1))
    redis.call('PEXPIRE', blog, window * 2 + margin + 10000)
  end
  local untill = 0
  if remaining == 0 and reset_after > 0 then untill = now + reset_after + margin end
  if retry >= 0 and not global and now + retry + margin > untill then untill = now + retry + margin end
  if untill > 0 then block(blog .. ':blocked', untill, untill - now + 1000) end
elseif retry >= 0 and not global then
  redis.call('SET', probe_key, '1', 'PX', retry + margin)
end
if retry >= 0 and global and gkey ~= '' then
  block(p .. 'g:' .. gkey .. ':blocked', now + retry + margin, retry + margin + gwindow)
end
return 1
