//! The Lua scripts: each check of ownership and the step it guards run as one atomic step on
//! the server, so no other consumer can claim an entry between the check and the ack.
//!
//! Every script names the stream (and the dead stream) in `KEYS`; the idempotency keys of the
//! producer share the queue's hash tag, so on a Redis Cluster a queue lives in one slot.

use std::sync::LazyLock;

use redis::Script;

/// Enqueue with an idempotency key. `KEYS[1]` stream; `ARGV[1]` key prefix of the job ids,
/// `ARGV[2]` their time to live (ms), then per job: id, payload, timeout ms (`""` for none),
/// retries (`""` for none). Per job it returns `{1, new entry id}` or `{0, the first entry's id}`.
pub(crate) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
local ttl = tonumber(ARGV[2])
local i = 3
while i + 3 <= #ARGV do
  local jid, p, t, r = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key = ARGV[1] .. jid
  local seen = redis.call('GET', key)
  if seen then
    out[#out + 1] = {0, seen}
  else
    local f = {'v', '1', 'id', jid, 'p', p}
    if t ~= '' then f[#f + 1] = 'timeout_ms'; f[#f + 1] = t end
    if r ~= '' then f[#f + 1] = 'retries'; f[#f + 1] = r end
    local eid = redis.call('XADD', KEYS[1], '*', unpack(f))
    redis.call('SET', key, eid, 'PX', ttl)
    out[#out + 1] = {1, eid}
  end
  i = i + 4
end
return out
"#,
    )
});

/// Settle a batch of entries in one atomic step: ack, dead-letter or release each one this
/// consumer still owns, and refuse (touch nothing of) each one it does not. Ownership is
/// checked per entry, with `XPENDING <id> <id> 1 <consumer>`, right before its step, so no
/// other consumer's claim can come between the check and the step.
///
/// `KEYS[1]` stream, `KEYS[2]` dead stream; `ARGV`: group, consumer, parking consumer, the
/// released entries' idle ms, the dead stream's approximate maximum length, then five values
/// per entry: the step (`a` ack, `d` dead-letter, `r` release), the entry id, and for `d` the
/// reason, attempts and error text (ignored, and sent empty, for the others).
///
/// * `a`: XACK and XDEL (one of each for all the batch's owned `a` entries, after the checks).
/// * `d`: the entry's fields plus `entry`, `reason`, `attempts`, `deliveries`, `consumer`,
///   `error` are added to the dead stream (`MAXLEN ~`), then XACK and XDEL.
/// * `r`: moved to the parking consumer with its delivery count lowered by one and an idle
///   time that any lease has passed, so the next XAUTOCLAIM takes it at once and brings the
///   count back: no delivery spent.
///
/// Returns, per entry and in order, 1 (done) or 0 (not ours: refused).
pub(crate) static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
for i = 6, #ARGV, 5 do
  local k = ARGV[i]
  if k ~= 'a' and k ~= 'd' and k ~= 'r' then
    return redis.error_reply('workcrew-redis: unknown settlement step ' .. tostring(k))
  end
end
local out = {}
local acks = {}
for i = 6, #ARGV - 4, 5 do
  local k, id = ARGV[i], ARGV[i + 1]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #p == 0 then
    out[#out + 1] = 0
  elseif k == 'a' then
    -- Checked, and acked below with the others (nothing runs between: one script).
    acks[#acks + 1] = id
    out[#out + 1] = 1
  elseif k == 'd' then
    local e = redis.call('XRANGE', KEYS[1], id, id)
    local f = {}
    if #e == 1 then f = e[1][2] end
    local extra = {'entry', id, 'reason', ARGV[i + 2], 'attempts', ARGV[i + 3],
      'deliveries', p[1][4], 'consumer', ARGV[2], 'error', ARGV[i + 4]}
    for _, v in ipairs(extra) do f[#f + 1] = v end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', unpack(f))
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    out[#out + 1] = 1
  else
    local n = p[1][4] - 1
    if n < 0 then n = 0 end
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, id, 'IDLE', ARGV[4], 'RETRYCOUNT', n, 'JUSTID')
    out[#out + 1] = 1
  end
end
if #acks > 0 then
  -- (unpack() expands to all its values only as the last argument.)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(acks))
  redis.call('XDEL', KEYS[1], unpack(acks))
end
return out
"#,
    )
});

/// Renew the leases of the entries this consumer still owns (XCLAIM ... JUSTID resets their
/// idle time and leaves their delivery count alone). `KEYS[1]` stream; `ARGV`: group, consumer,
/// then the ids. Returns the ids that are no longer ours.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local lost = {}
local mine = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #p == 1 then mine[#mine + 1] = id else lost[#lost + 1] = id end
end
if #mine > 0 then
  -- (unpack() expands to all its values only as the last argument.)
  local args = {KEYS[1], ARGV[1], ARGV[2], 0}
  for _, id in ipairs(mine) do args[#args + 1] = id end
  args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
end
return lost
"#,
    )
});

/// Recovery: XAUTOCLAIM entries idle past the lease, from the cursor on; those delivered more
/// than `max_deliveries` times go to the dead stream without running. `KEYS[1]` stream,
/// `KEYS[2]` dead stream; `ARGV`: group, consumer, min idle ms, cursor, count, max deliveries,
/// dead stream's maximum length. Returns `{next cursor, {{id, fields, deliveries}...}, {dead id...}}`.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local run, dead = {}, {}
local max = tonumber(ARGV[6])
for _, e in ipairs(r[2]) do
  local id = e[1]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  local n = 1
  if #p == 1 then n = p[1][4] end
  if n > max then
    local f = e[2]
    local extra = {'entry', id, 'reason', 'deliveries', 'attempts', '0', 'deliveries', n,
      'consumer', ARGV[2], 'error', 'delivered more than max_deliveries times'}
    for _, v in ipairs(extra) do f[#f + 1] = v end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', unpack(f))
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    dead[#dead + 1] = id
  else
    run[#run + 1] = {id, e[2], n}
  end
end
return {r[1], run, dead}
"#,
    )
});

/// Leave the group if nothing is pending for this consumer (a consumer's name is used once, so
/// a clean exit removes it). `KEYS[1]` stream; `ARGV`: group, consumer. Returns 1 if removed.
pub(crate) static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"#,
    )
});
