//! Hot instances: the replayed state of recently written instances, kept in memory between
//! batches so that the next event for one does not read its facts back, parse them and replay
//! its log again.
//!
//! The database stays the truth. Every write of an instance's facts raises its `revision`, and
//! ingest asks for the facts only of the instances whose stored revision is not the one kept
//! here: another replica, an action, or anything else that wrote one since makes it read afresh.
//! An entry is taken out while its instance is being updated and put back only once the
//! transaction committed, so a batch that fails leaves nothing behind that the database does not
//! hold. A crash loses only this cache.
//!
//! Bounded: past its capacity the least recently used entries go, a tenth at a time (so the
//! sweep costs a tenth of an entry per insert on average).

use std::collections::HashMap;

use flowlens_core::Instance;

/// An instance as it stood after its last committed write.
pub(crate) struct HotInstance {
    pub id: i64,
    pub revision: i64,
    pub instance: Instance,
}

pub(crate) struct Hot {
    capacity: usize,
    tick: u64,
    entries: HashMap<(String, String), (u64, HotInstance)>,
}

impl Hot {
    pub fn new(capacity: usize) -> Hot {
        Hot { capacity, tick: 0, entries: HashMap::new() }
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.shrink();
    }

    /// Takes the entry of instance `key` of `flow` out, if it is kept.
    pub fn take(&mut self, flow: &str, key: &str) -> Option<HotInstance> {
        self.entries.remove(&(flow.to_string(), key.to_string())).map(|(_, hot)| hot)
    }

    /// Keeps (or replaces) an instance's entry, as it stands committed.
    pub fn put(&mut self, flow: &str, key: &str, hot: HotInstance) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        self.entries.insert((flow.to_string(), key.to_string()), (self.tick, hot));
        if self.entries.len() > self.capacity {
            self.shrink();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Down to nine tenths of the capacity, least recently used first.
    fn shrink(&mut self) {
        if self.entries.len() <= self.capacity {
            return;
        }
        let keep = self.capacity - self.capacity / 10;
        let mut ticks: Vec<u64> = self.entries.values().map(|(t, _)| *t).collect();
        let cut = ticks.len() - keep;
        let (_, nth, _) = ticks.select_nth_unstable(cut - 1);
        let oldest_kept = *nth + 1;
        self.entries.retain(|_, (t, _)| *t >= oldest_kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64) -> HotInstance {
        HotInstance { id, revision: 1, instance: Instance::default() }
    }

    #[test]
    fn keeps_at_most_its_capacity_and_drops_the_least_recently_used() {
        let mut hot = Hot::new(10);
        for i in 0..10 {
            hot.put("f", &i.to_string(), entry(i));
        }
        // Used again: 0 is now the most recent.
        let zero = hot.take("f", "0").unwrap();
        hot.put("f", "0", zero);
        hot.put("f", "10", entry(10));
        assert!(hot.len() <= 10, "{} kept", hot.len());
        assert!(hot.take("f", "1").is_none(), "the least recently used went first");
        assert_eq!(hot.take("f", "0").map(|h| h.id), Some(0));
        assert_eq!(hot.take("f", "10").map(|h| h.id), Some(10));
    }

    #[test]
    fn an_entry_taken_is_gone_until_put_back_and_none_is_kept_at_capacity_zero() {
        let mut hot = Hot::new(4);
        hot.put("f", "a", entry(1));
        assert!(hot.take("f", "a").is_some());
        assert!(hot.take("f", "a").is_none());
        hot.set_capacity(0);
        hot.put("f", "a", entry(1));
        assert_eq!(hot.len(), 0);
    }
}
