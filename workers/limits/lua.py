"""Lua shared by the limiter's scripts: the clock, and the adaptive limits of an account and
model. Each script is built by concatenating these with its own body."""

from __future__ import annotations

from typing import Final

NOW: Final = """
local function now_ms(given)
  local now = tonumber(given)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""
"""``now_ms(ARGV[i])``: the given time in ms (tests pass one), else the Redis clock."""

EFFECTIVE: Final = """
-- The allowed submit rate and tasks in flight of one account and model at `now`.
-- st: HMGET of r_cut, r_at, r_ss, c_cut, c_at, paused (see workers.limits.throttle)
-- lim: {rate=, conc=} configured limits (0: unknown); p: the limiter's parameters
local function effective(st, now, lim, p)
  local rate
  local r_cut, r_at = tonumber(st[1]), tonumber(st[2])
  if not r_at then
    rate = (lim.rate > 0) and lim.rate or p.start_rps
  elseif st[3] == '1' then
    rate = r_cut * 2 ^ ((now - r_at) / p.doubling_ms)
  else
    rate = r_cut * (1 + p.recovery_per_s * (now - r_at) / 1000)
  end
  rate = math.min(rate, (lim.rate > 0) and lim.rate or p.max_rps)
  local conc
  local c_cut, c_at = tonumber(st[4]), tonumber(st[5])
  if not c_at then
    conc = (lim.conc > 0) and lim.conc or p.max_in_flight
  else
    conc = c_cut + math.floor((now - c_at) / p.probe_ms)
  end
  conc = math.min(conc, (lim.conc > 0) and lim.conc or p.max_in_flight)
  return rate, conc
end
"""


def script(*parts: str) -> str:
    """A script made of shared parts and its body (the body's header comment goes first)."""
    body, shared = parts[-1], parts[:-1]
    header, _, rest = body.partition("\n--END HEADER\n")
    return "\n".join((header, *shared, rest))
