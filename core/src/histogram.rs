//! Step durations as mergeable histograms. Ingest adds every finished visit of a step to the
//! counts of its duration's bucket in the minute, hour and day it finished; the overview sums the
//! buckets of the pieces its range is made of. Counts and sums are exact, so the mean is exact at
//! any volume; a percentile is exact up to its bucket: below 32 ms every millisecond is a bucket,
//! above, each power of two is split in 16, so the value reported (the bucket's middle) is
//! within 1/32 of every duration in it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Sub-buckets per power of two, as bits: 16.
const SUB_BITS: u32 = 4;
/// Durations below this many ms are buckets of their own.
const EXACT: i64 = 1 << (SUB_BITS + 1);

/// The bucket of a duration in ms (a negative one, from clocks that disagree, counts as 0).
pub fn bucket(ms: i64) -> u16 {
    let ms = ms.max(0);
    if ms < EXACT {
        return ms as u16;
    }
    let e = 63 - ms.leading_zeros(); // the highest bit set, at least SUB_BITS + 1
    let sub = (ms >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (EXACT + i64::from(e - SUB_BITS - 1) * (1 << SUB_BITS) + sub) as u16
}

/// The durations a bucket holds: `lower..upper` ms.
pub fn bounds(bucket: u16) -> (i64, i64) {
    let b = i64::from(bucket);
    if b < EXACT {
        return (b, b + 1);
    }
    let e = (b - EXACT) / (1 << SUB_BITS) + i64::from(SUB_BITS) + 1;
    let sub = (b - EXACT) % (1 << SUB_BITS);
    let width = 1i64 << (e - i64::from(SUB_BITS));
    let lower = (1i64 << e) + sub * width;
    (lower, lower.saturating_add(width))
}

/// Durations counted by bucket, with their exact count and sum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    bins: BTreeMap<u16, u64>,
    count: u64,
    sum_ms: i64,
}

impl Histogram {
    pub fn add(&mut self, ms: i64) {
        self.add_bucket(bucket(ms), 1, ms.max(0));
    }

    /// Adds `n` durations of `bucket` summing to `sum_ms`, as a stored row holds them.
    pub fn add_bucket(&mut self, bucket: u16, n: u64, sum_ms: i64) {
        if n == 0 {
            return;
        }
        *self.bins.entry(bucket).or_default() += n;
        self.count += n;
        self.sum_ms += sum_ms;
    }

    /// Adds `n` durations of `bucket` summing to `sum_ms`, or with a negative `n` takes them off
    /// (a visit rewritten by a late event); a bucket never goes below empty.
    pub fn shift(&mut self, bucket: u16, n: i64, sum_ms: i64) {
        if n >= 0 {
            return self.add_bucket(bucket, n as u64, sum_ms);
        }
        let Some(held) = self.bins.get_mut(&bucket) else { return };
        let taken = (n.unsigned_abs()).min(*held);
        *held -= taken;
        if *held == 0 {
            self.bins.remove(&bucket);
        }
        self.count -= taken;
        self.sum_ms = (self.sum_ms + sum_ms).max(0);
    }

    /// The bins as stored: `bucket:count` pairs, space-separated, in bucket order.
    pub fn bins_text(&self) -> String {
        let pairs: Vec<String> = self.bins.iter().map(|(b, n)| format!("{b}:{n}")).collect();
        pairs.join(" ")
    }

    /// A histogram from its stored bins ([`Histogram::bins_text`]) and summed time.
    pub fn from_stored(bins: &str, sum_ms: i64) -> Result<Histogram, String> {
        let mut h = Histogram { sum_ms, ..Histogram::default() };
        for pair in bins.split_whitespace() {
            let parsed = pair.split_once(':').and_then(|(b, n)| Some((b.parse::<u16>().ok()?, n.parse::<u64>().ok()?)));
            let Some((b, n)) = parsed else { return Err(format!("`{pair}` is not a bucket:count pair")) };
            *h.bins.entry(b).or_default() += n;
            h.count += n;
        }
        Ok(h)
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (&b, &n) in &other.bins {
            *self.bins.entry(b).or_default() += n;
        }
        self.count += other.count;
        self.sum_ms += other.sum_ms;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ms(&self) -> i64 {
        self.sum_ms
    }

    pub fn mean_ms(&self) -> Option<i64> {
        (self.count > 0).then(|| self.sum_ms / self.count as i64)
    }

    /// The nearest-rank `q`-quantile (0 < q ≤ 1): the middle of the bucket holding it.
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().clamp(1.0, self.count as f64) as u64;
        let mut seen = 0;
        for (&b, &n) in &self.bins {
            seen += n;
            if seen >= rank {
                let (lower, upper) = bounds(b);
                return Some(lower + (upper - 1 - lower) / 2);
            }
        }
        None
    }
}

/// The stored granularities of the counts, in ms: a minute, an hour, a day.
pub const SPANS: [i64; 3] = [60_000, 3_600_000, 86_400_000];

/// Where a duration that ended at `at` is counted: the start of its minute, hour and day.
pub fn periods(at: Millis) -> [(i64, i64); 3] {
    SPANS.map(|span| (span, at.0.div_euclid(span) * span))
}

/// The pieces a range is read from: `(span, first, end)` for the periods of `span` starting at
/// `first..end`. Whole days where they fit, whole hours at their edges, minutes at theirs: at most
/// five pieces whatever the range. The range is widened to whole minutes (`from` down, `to` up),
/// as the throughput chart counts.
pub fn cover(from: Millis, to: Millis) -> Vec<(i64, i64, i64)> {
    let minute = SPANS[0];
    let (lo, hi) = (from.0.div_euclid(minute) * minute, (to.0 + minute - 1).div_euclid(minute) * minute);
    let mut out = Vec::new();
    split(lo, hi, SPANS.len() - 1, &mut out);
    out
}

/// Covers `lo..hi` (whole minutes) with the periods of `SPANS[level]` that fit, and its edges
/// with finer ones.
fn split(lo: i64, hi: i64, level: usize, out: &mut Vec<(i64, i64, i64)>) {
    if lo >= hi {
        return;
    }
    let span = SPANS[level];
    if level == 0 {
        out.push((span, lo, hi));
        return;
    }
    let (first, end) = ((lo + span - 1).div_euclid(span) * span, hi.div_euclid(span) * span);
    if first < end {
        split(lo, first, level - 1, out);
        out.push((span, first, end));
        split(end, hi, level - 1, out);
    } else {
        split(lo, hi, level - 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_durations_are_exact_and_buckets_follow_each_other() {
        for ms in 0..EXACT {
            assert_eq!(bounds(bucket(ms)), (ms, ms + 1));
        }
        let mut previous = bounds(bucket(EXACT - 1));
        for b in bucket(EXACT)..=bucket(i64::MAX / 2) {
            let (lower, upper) = bounds(b);
            assert_eq!(lower, previous.1, "bucket {b} starts where {} ended", b - 1);
            assert!(upper > lower);
            previous = (lower, upper);
        }
        assert_eq!(bucket(-5), 0);
    }

    #[test]
    fn quantiles_and_means_of_a_known_set() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.95), None);
        assert_eq!(h.mean_ms(), None);
        for ms in 1..=20 {
            h.add(ms);
        }
        assert_eq!(h.count(), 20);
        assert_eq!(h.mean_ms(), Some(10)); // 210 / 20
        assert_eq!(h.quantile_ms(0.95), Some(19)); // rank 19 of 20, exact below 32 ms
        assert_eq!(h.quantile_ms(1.0), Some(20));
    }

    proptest! {
        #[test]
        fn a_duration_lies_in_its_bucket_and_the_middle_is_within_a_32nd(ms in 0i64..(1 << 45)) {
            let (lower, upper) = bounds(bucket(ms));
            prop_assert!(lower <= ms && ms < upper);
            let middle = lower + (upper - 1 - lower) / 2;
            prop_assert!((middle - ms).abs() * 32 <= ms.max(1), "{ms} in {lower}..{upper}");
        }

        #[test]
        fn the_quantile_is_the_nearest_rank_to_a_32nd(mut xs in prop::collection::vec(0i64..10_000_000, 1..300), q in 0.01f64..=1.0) {
            let mut h = Histogram::default();
            for &x in &xs {
                h.add(x);
            }
            xs.sort_unstable();
            let rank = ((xs.len() as f64) * q).ceil().clamp(1.0, xs.len() as f64) as usize;
            let exact = xs[rank - 1];
            let got = h.quantile_ms(q).unwrap();
            prop_assert!((got - exact).abs() * 32 <= exact.max(1), "{got} for {exact}");
            prop_assert_eq!(h.mean_ms(), Some(xs.iter().sum::<i64>() / xs.len() as i64));
        }

        #[test]
        fn merging_is_adding_the_durations(a in prop::collection::vec(0i64..1 << 40, 0..50), b in prop::collection::vec(0i64..1 << 40, 0..50)) {
            let (mut ha, mut hb, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
            a.iter().for_each(|&x| { ha.add(x); all.add(x) });
            b.iter().for_each(|&x| { hb.add(x); all.add(x) });
            ha.merge(&hb);
            prop_assert_eq!(ha, all);
        }

        /// The pieces of a range tile its whole minutes exactly, each piece aligned to its span.
        #[test]
        fn a_range_is_covered_once_by_aligned_pieces(from in 0i64..100 * 86_400_000, len in 0i64..40 * 86_400_000) {
            let (from, to) = (Millis(from), Millis(from + len));
            let mut pieces = cover(from, to);
            for &(span, first, end) in &pieces {
                prop_assert!(SPANS.contains(&span));
                prop_assert!(first % span == 0 && end % span == 0 && first < end);
            }
            pieces.sort_by_key(|&(_, first, _)| first);
            let lo = from.0.div_euclid(60_000) * 60_000;
            let hi = (to.0 + 59_999).div_euclid(60_000) * 60_000;
            let mut at = lo;
            for &(_, first, end) in &pieces {
                prop_assert_eq!(first, at);
                at = end;
            }
            prop_assert_eq!(at, hi.max(lo));
            // Few pieces whatever the length: at most one of days, two of hours, two of minutes.
            prop_assert!(pieces.len() <= 5);
        }
    }

    #[test]
    fn stored_bins_read_back_and_taking_off_never_goes_below_empty() {
        let mut h = Histogram::default();
        for ms in [3, 3, 40, 70_000] {
            h.add(ms);
        }
        let back = Histogram::from_stored(&h.bins_text(), 70_046).unwrap();
        assert_eq!(back, h);
        assert!(Histogram::from_stored("3:1 x", 0).is_err());
        h.shift(bucket(3), -1, -3);
        assert_eq!((h.count(), h.mean_ms()), (3, Some(70_043 / 3)));
        h.shift(bucket(40), -5, -40);
        assert_eq!(h.count(), 2, "only the one held came off");
        assert_eq!(h.bins_text(), format!("3:1 {}:1", bucket(70_000)));
    }

    #[test]
    fn periods_are_the_minute_hour_and_day_a_time_falls_in() {
        let at = Millis(86_400_000 + 3 * 3_600_000 + 7 * 60_000 + 5);
        assert_eq!(periods(at), [(60_000, at.0 - 5), (3_600_000, 86_400_000 + 3 * 3_600_000), (86_400_000, 86_400_000)]);
    }
}
