//! Sign-in throttling: a token bucket per user name and one per client address. Each attempt
//! takes a token from both; an empty bucket refuses with the time until its next token, so a
//! guesser gets a few tries and then one every so often, and a person who mistyped waits seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use flowlens_core::Millis;

/// How many attempts a bucket holds, and how long it takes to earn one back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate {
    pub burst: f64,
    pub every_ms: i64,
}

/// Per name: five tries, then one every 20 seconds.
pub(crate) const PER_NAME: Rate = Rate { burst: 5.0, every_ms: 20_000 };
/// Per address (many people may share one): twenty tries, then one every 3 seconds.
pub(crate) const PER_ADDRESS: Rate = Rate { burst: 20.0, every_ms: 3_000 };
/// Buckets kept at most; full ones are forgotten first, so a flood of names cannot grow memory.
const MAX_BUCKETS: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    Address(IpAddr),
}

#[derive(Default)]
pub(crate) struct Throttle {
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl Throttle {
    /// Takes one attempt for `name` from `address`; if either is out of attempts, none is taken
    /// and the answer is the seconds to wait.
    pub(crate) fn attempt(&self, name: &str, address: Option<IpAddr>, now: Millis) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = vec![(Key::Name(name.to_lowercase()), PER_NAME)];
        if let Some(ip) = address {
            keys.push((Key::Address(ip), PER_ADDRESS));
        }
        let mut wait = 0i64;
        let mut refilled = Vec::with_capacity(keys.len());
        for (key, rate) in keys {
            let b = buckets.get(&key).copied().map_or(Bucket { tokens: rate.burst, at: now }, |b| refill(b, rate, now));
            if b.tokens < 1.0 {
                wait = wait.max(((1.0 - b.tokens) * rate.every_ms as f64).ceil() as i64);
            }
            refilled.push((key, b));
        }
        if wait > 0 {
            return Err((wait as u64).div_ceil(1000));
        }
        if buckets.len() + refilled.len() > MAX_BUCKETS {
            forget_full(&mut buckets, now);
        }
        for (key, mut b) in refilled {
            b.tokens -= 1.0;
            buckets.insert(key, b);
        }
        Ok(())
    }

    /// A successful sign-in: the name's bucket is full again (the address's is not).
    pub(crate) fn succeeded(&self, name: &str) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).remove(&Key::Name(name.to_lowercase()));
    }
}

fn refill(b: Bucket, rate: Rate, now: Millis) -> Bucket {
    let earned = (now.0 - b.at.0).max(0) as f64 / rate.every_ms as f64;
    Bucket { tokens: (b.tokens + earned).min(rate.burst), at: now }
}

fn forget_full(buckets: &mut HashMap<Key, Bucket>, now: Millis) {
    buckets.retain(|key, b| {
        let rate = match key {
            Key::Name(_) => PER_NAME,
            Key::Address(_) => PER_ADDRESS,
        };
        refill(*b, rate, now).tokens < rate.burst
    });
    if buckets.len() >= MAX_BUCKETS {
        // Still full of half-used buckets: a flood. Start over rather than grow.
        buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_gets_five_tries_then_waits() {
        let t = Throttle::default();
        for _ in 0..5 {
            assert!(t.attempt("Admin", None, Millis(0)).is_ok());
        }
        assert_eq!(t.attempt("admin", None, Millis(0)), Err(20), "names are one whatever their case");
        assert_eq!(t.attempt("admin", None, Millis(15_000)), Err(5));
        assert!(t.attempt("admin", None, Millis(20_000)).is_ok());
        assert!(t.attempt("someone-else", None, Millis(20_000)).is_ok());
    }

    #[test]
    fn an_address_is_limited_across_names_and_a_refusal_takes_nothing() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for n in 0..20 {
            assert!(t.attempt(&format!("user-{n}"), Some(ip), Millis(0)).is_ok());
        }
        assert_eq!(t.attempt("user-99", Some(ip), Millis(0)), Err(3));
        // The refused attempt took nothing from user-99's own bucket.
        for _ in 0..5 {
            assert!(t.attempt("user-99", None, Millis(0)).is_ok());
        }
    }

    #[test]
    fn success_refills_the_name() {
        let t = Throttle::default();
        for _ in 0..5 {
            t.attempt("ada", None, Millis(0)).unwrap();
        }
        t.succeeded("ada");
        assert!(t.attempt("ada", None, Millis(0)).is_ok());
    }
}
