"""The Lua scripts of :class:`~workers.contract.jobstore.JobStore`, and their arguments.

Each script names its KEYS and ARGV; :func:`create_args` and :func:`change_args` build the ARGV
(the store names the keys).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from workers.contract.records import (
    STATE_RANK,
    TERMINAL_RANK,
    TIMESTAMP_PREFIX,
    UPDATABLE_FIELDS,
    JobRecord,
    encode_field,
    to_hash,
)
from workers.contract.states import JobState

CREATE_SCRIPT: Final = """-- Create a job record unless its custom id already names a live job.
-- KEYS[1] job hash, KEYS[2] batch zset, KEYS[3] batches zset, KEYS[4] custom key (optional)
-- ARGV[1] job id, ARGV[2] batch, ARGV[3] created_at (score), ARGV[4] key prefix,
-- ARGV[5..] hash field, value, field, value, ...
-- Returns {job id, 1} when created, {existing job id, 0} when the custom id is taken.
if KEYS[4] then
  local existing = redis.call('GET', KEYS[4])
  if existing and redis.call('EXISTS', ARGV[4] .. 'job:' .. existing) == 1 then
    return {existing, 0}
  end
  redis.call('SET', KEYS[4], ARGV[1])
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {ARGV[1], 0} end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[2])
return {ARGV[1], 1}
"""

CHANGE_SCRIPT: Final = """-- Change a job record: move its state forward (never backwards,
-- never out of a terminal state) and/or set fields, if every condition holds. A terminal
-- record is never changed, unless the call sets fields only and passes terminal_ok.
-- KEYS[1] job hash
-- ARGV[1] JSON: {to: state|false, expect: [states], match: {field: value|false},
--   set: {field: value}, del: [fields], stamp: [fields set to now], incr: {field: n},
--   terminal_ok: bool, ranks: {state: rank}, terminal_rank, ttl (s), prefix}
-- A terminal move also expires {prefix}custom:{custom_id} and refreshes the batch's expiry
-- and its score in {prefix}batches (keys named by the record: one Redis, not a cluster).
-- Returns 1 when applied, 0 when refused, -1 when there is no such job.
local job = KEYS[1]
local o = cjson.decode(ARGV[1])
if redis.call('EXISTS', job) == 0 then return -1 end
local cur = redis.call('HGET', job, 'state')
local to = o.to
if o.ranks[cur] >= o.terminal_rank and (to or not o.terminal_ok) then return 0 end
if to and o.ranks[to] < o.ranks[cur] then return 0 end
if #o.expect > 0 then
  local ok = false
  for _, state in ipairs(o.expect) do if state == cur then ok = true end end
  if not ok then return 0 end
end
for field, want in pairs(o.match) do
  local have = redis.call('HGET', job, field)
  if want == false then
    if have then return 0 end
  elseif have ~= want then return 0 end
end
local t = redis.call('TIME')
local now = string.format('%d.%06d', tonumber(t[1]), tonumber(t[2]))
local args = {'updated_at', now}
for field, value in pairs(o.set) do args[#args + 1] = field; args[#args + 1] = value end
for _, field in ipairs(o.stamp) do args[#args + 1] = field; args[#args + 1] = now end
if to and to ~= cur then
  args[#args + 1] = 'state'; args[#args + 1] = to
  args[#args + 1] = 'ts:' .. to; args[#args + 1] = now
end
redis.call('HSET', job, unpack(args))
for _, field in ipairs(o.del) do redis.call('HDEL', job, field) end
for field, n in pairs(o.incr) do redis.call('HINCRBY', job, field, n) end
if to and to ~= cur and o.ranks[to] >= o.terminal_rank then
  redis.call('EXPIRE', job, o.ttl)
  local custom = redis.call('HGET', job, 'custom_id')
  if custom then redis.call('EXPIRE', o.prefix .. 'custom:' .. custom, o.ttl) end
  local batch = redis.call('HGET', job, 'batch')
  redis.call('EXPIRE', o.prefix .. 'batch:' .. batch, o.ttl)
  redis.call('ZADD', o.prefix .. 'batches', 'GT', t[1], batch)
end
return 1
"""


def create_args(record: JobRecord, prefix: str) -> list[str]:
    """The ARGV of :data:`CREATE_SCRIPT` for a new record (stamped QUEUED at creation)."""
    fields = to_hash(record)
    fields.setdefault("updated_at", fields["created_at"])
    fields.setdefault(f"{TIMESTAMP_PREFIX}{JobState.QUEUED.value}", fields["created_at"])
    argv = [record.job_id, record.batch, repr(record.created_at), prefix]
    for name, value in fields.items():
        argv += [name, value]
    return argv


def change_args(
    *,
    to: JobState | None,
    expect: Collection[JobState] | None,
    match: Mapping[str, str | None] | None,
    fields: Mapping[str, Any] | None,
    stamp: Sequence[str],
    incr: Mapping[str, int] | None,
    terminal_ok: bool,
    ttl_s: int,
    prefix: str,
) -> list[str]:
    """The ARGV of :data:`CHANGE_SCRIPT` (see the script's header for each option).

    Raises:
        ValueError: A field that cannot be set, or a value of the wrong type.
    """
    set_fields: dict[str, str] = {}
    deleted: list[str] = []
    for name, value in (fields or {}).items():
        if name not in UPDATABLE_FIELDS:
            raise ValueError(f"{name!r} cannot be set (updatable: {sorted(UPDATABLE_FIELDS)})")
        encoded = encode_field(name, value)
        if encoded is None:
            deleted.append(name)
        else:
            set_fields[name] = encoded
    options = {
        "to": to.value if to is not None else False,
        "expect": [state.value for state in expect or ()],
        "match": {name: (False if want is None else want) for name, want in (match or {}).items()},
        "set": set_fields,
        "del": deleted,
        "stamp": list(stamp),
        "incr": dict(incr or {}),
        "terminal_ok": terminal_ok,
        "ranks": {state.value: rank for state, rank in STATE_RANK.items()},
        "terminal_rank": TERMINAL_RANK,
        "ttl": ttl_s,
        "prefix": prefix,
    }
    return [json.dumps(options)]
