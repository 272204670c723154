//! The GCRA decision as one Lua script, run atomically by Redis.
//!
//! One key per limiter key holds its theoretical arrival time (TAT) as an integer in
//! the script's time unit. A decision for `n` cells at `now`, as the local limiter takes
//! it: the TAT moves to `max(tat, now) + n * interval` when that is at most
//! `now + burst * interval` (plus the slack of wait mode: the request then proceeds
//! once the TAT is within the bucket again), and otherwise the request waits for the
//! difference. A lease of up to `lease` cells takes as many as fit (at least `n`) in
//! the same step.
//!
//! The unit: microseconds when the script reads Redis `TIME` (its resolution), so every
//! instance decides on one clock whatever its own; nanoseconds when the caller passes
//! its own time (tests against the local limiter). Lua numbers are doubles: integers
//! are exact below 2^53, which microseconds since 1970 stay under until the year 2255
//! and nanoseconds from a process-relative clock for 104 days. The stored value expires
//! when the TAT passes, because a key at or past its TAT is the same as a fresh key:
//! idle keys cost Redis nothing.

use redis::{Script, Value};

/// `KEYS[1]`: the key's TAT. `ARGV`: interval, burst, n, lease (>= n), `now` or
/// `"server"`, time units per millisecond (for the expiry), slack: how far past a full
/// bucket the TAT may run (wait mode's maximum wait; 0 in reject mode).
///
/// Returns, when `lease` cells were granted (always so in exact mode, where
/// `lease = n`), the time until the bucket is full again as one integer (`>= 0`); when
/// fewer were, `{granted, that time}` (`n <= granted < lease`); when none were, `-1`
/// minus the time until `n` cells fit. One integer is the common reply because a
/// table costs Redis about 2 us more to build and send (`return {1, 2}` against
/// `return 1`, measured as below). A request of 0 cells reads the state and changes
/// nothing.
///
/// Written for Redis's cost of a script, which is mostly its calls into C: the
/// arguments are read by arithmetic coercion (`argv[1] + 0`) rather than `tonumber`,
/// and floor, min, max and ceil are written out (`x - x % 1` is the floor of any
/// double), which takes the script from about 29 to 26 us of Redis CPU per run on the
/// bench machine (`INFO commandstats`), against 19 us for its three `redis.call`s and
/// reply alone; the one-integer reply takes it to about 24.7 us. A stored value that is
/// not a number reads as a fresh key, as before.
const GCRA: &str = r"
local argv = ARGV
local interval = argv[1] + 0
local now
if argv[5] == 'server' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
else
  now = argv[5] + 0
end
local limit = now + argv[2] * interval + argv[7]
local key = KEYS[1]
local tat = tonumber(redis.call('GET', key)) or now
if tat < now then
  tat = now
end
local n = argv[3] + 0
local fit = (limit - tat) / interval
fit = fit - fit % 1
if fit < n then
  return -1 - (tat + n * interval - limit)
end
local lease = argv[4] + 0
local take = lease
if fit < take then
  take = fit
end
local next = tat + take * interval
if take > 0 then
  local ttl = (next - now) / argv[6]
  local ms = ttl - ttl % 1
  if ms < ttl then
    ms = ms + 1
  end
  if ms < 1 then
    ms = 1
  end
  redis.call('SET', key, string.format('%d', next), 'PX', string.format('%d', ms))
end
if take == lease then
  return next - now
end
return {take, next - now}
";

/// The script, hashed once: `invoke_async` sends `EVALSHA` and, on `NOSCRIPT` (a
/// restarted or flushed Redis), loads it and retries.
pub(crate) fn gcra() -> Script {
    Script::new(GCRA)
}

/// What one run of the script decided, in the script's time unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `cells` granted; the bucket is full again after `reset`.
    Granted { cells: u32, reset: u64 },
    /// Nothing granted; `n` cells fit after `wait`.
    Refused { wait: u64 },
}

impl Reply {
    /// Reads the script's answer to a request for a lease of `lease` cells, refusing
    /// anything else (a Redis that answers with the wrong shape is a failure, never a
    /// panic).
    pub(crate) fn parse(reply: &Value, lease: u32) -> Option<Reply> {
        match *reply {
            Value::Int(value) => Some(match u64::try_from(value) {
                Ok(reset) => Reply::Granted {
                    cells: lease,
                    reset,
                },
                // `-1 - value` is at least 0, and cannot overflow, for every negative.
                Err(_) => Reply::Refused {
                    wait: (-1 - value).unsigned_abs(),
                },
            }),
            Value::Array(ref pair) => match pair[..] {
                [Value::Int(granted), Value::Int(reset)] => Some(Reply::Granted {
                    cells: u32::try_from(granted).ok().filter(|&g| g < lease)?,
                    reset: u64::try_from(reset).ok()?,
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(granted: i64, reset: i64) -> Value {
        Value::Array(vec![Value::Int(granted), Value::Int(reset)])
    }

    #[test]
    fn replies_read_as_the_script_wrote_them() {
        let full = |reset| Reply::Granted { cells: 8, reset };
        assert_eq!(Reply::parse(&Value::Int(100), 8), Some(full(100)));
        assert_eq!(Reply::parse(&Value::Int(0), 8), Some(full(0)));
        assert_eq!(
            Reply::parse(&Value::Int(-1), 8),
            Some(Reply::Refused { wait: 0 })
        );
        assert_eq!(
            Reply::parse(&Value::Int(-8), 8),
            Some(Reply::Refused { wait: 7 })
        );
        assert_eq!(
            Reply::parse(&Value::Int(i64::MIN), 8),
            Some(Reply::Refused {
                wait: i64::MAX.unsigned_abs()
            })
        );
        assert_eq!(
            Reply::parse(&pair(3, 100), 8),
            Some(Reply::Granted {
                cells: 3,
                reset: 100
            })
        );
    }

    #[test]
    fn replies_of_the_wrong_shape_are_refused() {
        assert_eq!(
            Reply::parse(&pair(8, 100), 8),
            None,
            "a full lease is an integer"
        );
        assert_eq!(Reply::parse(&pair(9, 100), 8), None);
        assert_eq!(Reply::parse(&pair(-1, 100), 8), None);
        assert_eq!(Reply::parse(&pair(1, -2), 8), None);
        assert_eq!(Reply::parse(&Value::Array(vec![Value::Int(1)]), 8), None);
        assert_eq!(
            Reply::parse(
                &Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
                8
            ),
            None
        );
        assert_eq!(Reply::parse(&Value::Nil, 8), None);
        assert_eq!(Reply::parse(&Value::Okay, 8), None);
    }
}
