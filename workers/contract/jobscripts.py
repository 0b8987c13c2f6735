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

CREATE_SCRIPT: Final = """-- Create job records, each unless its custom id already names a live job.
-- ARGV[1] key prefix, ARGV[2] JSON list of {id, batch, at (created_at), custom (or absent),
--   fields: {hash field: value}}. Keys, from the prefix (one Redis, not a cluster):
--   job:{id} (hash), batch:{batch} (zset), batches (zset), custom:{custom id},
--   live (zset: job id -> ms of its last state change, here its creation).
-- Returns id, created (1|0), id, created, ... in order (the existing job's id when the
-- custom id or the job id is taken).
local P = ARGV[1]
local out = {}
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local job_key = P .. 'job:' .. r.id
  local id, created = r.id, 1
  if r.custom then
    local custom_key = P .. 'custom:' .. r.custom
    local existing = redis.call('GET', custom_key)
    if existing and redis.call('EXISTS', P .. 'job:' .. existing) == 1 then
      id, created = existing, 0
    else
      redis.call('SET', custom_key, r.id)
    end
  end
  if created == 1 and redis.call('EXISTS', job_key) == 1 then created = 0 end
  if created == 1 then
    local flat = {}
    for field, value in pairs(r.fields) do
      flat[#flat + 1] = field
      flat[#flat + 1] = value
    end
    redis.call('HSET', job_key, unpack(flat))
    local batch_key = P .. 'batch:' .. r.batch
    redis.call('ZADD', batch_key, 'NX', r.at, r.id)
    redis.call('PERSIST', batch_key)
    redis.call('ZADD', P .. 'batches', 'GT', r.at, r.batch)
    redis.call('ZADD', P .. 'live', tonumber(r.at) * 1000, r.id)
  end
  out[#out + 1] = id
  out[#out + 1] = created
end
return out
"""

CHANGE_SCRIPT: Final = """-- Change a job record: move its state forward (never backwards,
-- never out of a terminal state) and/or set fields, if every condition holds. A terminal
-- record is never changed, unless the call sets fields only and passes terminal_ok.
-- KEYS[1] job hash
-- ARGV[1] JSON: {to: state|false, expect: [states], match: {field: string|number|false}
--   (false: the field is absent; a number: the field holds that number, e.g. a stamp),
--   set: {field: value}, del: [fields], stamp: [fields set to now], incr: {field: n},
--   terminal_ok: bool, ranks: {state: rank}, terminal_rank, ttl (s), prefix}
-- A terminal move also expires {prefix}custom:{custom_id}, refreshes the batch's expiry
-- and its score in {prefix}batches, and takes the job out of {prefix}live (and of
-- {prefix}live:unplaced, the sweeper's findings); any other move
-- to a new state scores the job in {prefix}live with the time (ms). Field changes alone
-- (a poll's token swap) leave {prefix}live alone. (Keys named by the record and the
-- prefix: one Redis, not a cluster.)
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
  elseif type(want) == 'number' then
    if not have or tonumber(have) ~= want then return 0 end
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
  local job_id = redis.call('HGET', job, 'job_id')
  redis.call('ZREM', o.prefix .. 'live', job_id)
  redis.call('ZREM', o.prefix .. 'live:unplaced', job_id)
  redis.call('EXPIRE', job, o.ttl)
  local custom = redis.call('HGET', job, 'custom_id')
  if custom then redis.call('EXPIRE', o.prefix .. 'custom:' .. custom, o.ttl) end
  local batch = redis.call('HGET', job, 'batch')
  redis.call('EXPIRE', o.prefix .. 'batch:' .. batch, o.ttl)
  redis.call('ZADD', o.prefix .. 'batches', 'GT', t[1], batch)
elseif to and to ~= cur then
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', o.prefix .. 'live', ms, redis.call('HGET', job, 'job_id'))
end
return 1
"""


def create_entry(record: JobRecord) -> dict[str, Any]:
    """One record as :data:`CREATE_SCRIPT` takes it (stamped QUEUED at creation)."""
    fields = to_hash(record)
    fields.setdefault("updated_at", fields["created_at"])
    fields.setdefault(f"{TIMESTAMP_PREFIX}{JobState.QUEUED.value}", fields["created_at"])
    entry: dict[str, Any] = {
        "id": record.job_id,
        "batch": record.batch,
        "at": repr(record.created_at),
        "fields": fields,
    }
    if record.custom_id is not None:
        entry["custom"] = record.custom_id
    return entry


def create_args(records: Sequence[JobRecord], prefix: str) -> list[str]:
    """The ARGV of :data:`CREATE_SCRIPT` for new records."""
    entries = [create_entry(record) for record in records]
    return [prefix, json.dumps(entries, separators=(",", ":"), ensure_ascii=False)]


def change_args(
    *,
    to: JobState | None,
    expect: Collection[JobState] | None,
    match: Mapping[str, str | float | None] | None,
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
