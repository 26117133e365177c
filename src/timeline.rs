//! The run over time: every report interval, what was done, the stock left
//! and that interval's latency, plus the interval histograms, compressed,
//! for `latency.hlog` (written by `report/`). Batches count in the
//! interval in which they arrive (they are at most a few milliseconds old).

use std::time::Duration;

use crate::metrics::{CompressedHistogram, Counters, PhaseHistograms};
use crate::phase::Phase;

/// One report interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// Start of the interval, since the load started: the previous row's end.
    pub start: Duration,
    /// End of the interval, since the load started.
    pub end: Duration,
    pub length: Duration,
    pub counters: Counters,
    /// Response time of the interval's purchases; `None` without samples.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
    /// Read from Redis at the end of the interval.
    pub stock: Option<i64>,
    /// The interval's histogram of every phase, in [`Phase::ALL`] order.
    pub histograms: Vec<(Phase, CompressedHistogram)>,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub rows: Vec<TimelineRow>,
    counters: Counters,
    histograms: PhaseHistograms,
    /// The length of the intervals closed now.
    interval: Duration,
    /// Adaptive (no `report.interval` given): up to which length the
    /// intervals double.
    coarsen_up_to: Option<Duration>,
}

/// An adaptive timeline starts at a 64th of the default interval (15.6 ms)
/// and doubles its interval, merging rows two by two, each time it holds
/// this many rows, up to the default interval: a run shorter than about
/// 40 s gets 20 to 40 rows (a sub-second sale too), a longer one rows of
/// 1 s.
const COARSEN_AT: usize = 40;
/// The first interval of an adaptive timeline, as a fraction of the last.
const FINEST: u32 = 64;

impl Timeline {
    /// Intervals of `interval`; `adaptive`: starting at 1/64 of it and
    /// doubling up to it as the run goes on.
    pub fn new(interval: Duration, adaptive: bool) -> Timeline {
        Timeline {
            rows: Vec::new(),
            counters: Counters::default(),
            histograms: PhaseHistograms::default(),
            interval: match adaptive {
                true => interval / FINEST,
                false => interval,
            },
            coarsen_up_to: adaptive.then_some(interval),
        }
    }

    /// The length of the interval being filled now.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Adds a worker's batch to the current interval.
    ///
    /// # Errors
    /// When the batch holds a histogram bucket that cannot be recorded.
    pub fn add(&mut self, batch: &crate::metrics::Batch) -> anyhow::Result<()> {
        self.counters.add(&batch.counters);
        batch.record_into(&mut self.histograms)
    }

    /// Ends the current interval at `end`.
    ///
    /// # Errors
    /// When a histogram cannot be compressed for the log.
    /// The interval's histograms are added to `totals` too.
    pub fn close(
        &mut self,
        end: Duration,
        stock: Option<i64>,
        totals: &mut PhaseHistograms,
    ) -> anyhow::Result<()> {
        totals.add(&self.histograms)?;
        let start = self.rows.last().map_or(Duration::ZERO, |r| r.end);
        let length = end.saturating_sub(start);
        let histograms = Phase::ALL
            .into_iter()
            .map(|phase| Ok((phase, CompressedHistogram::new(self.histograms.get(phase))?)))
            .collect::<anyhow::Result<_>>()?;
        let h = &self.histograms.purchase;
        let some = |v: u64| (!h.is_empty()).then_some(v);
        self.rows.push(TimelineRow {
            start,
            end,
            length,
            counters: std::mem::take(&mut self.counters),
            p50_us: some(h.value_at_quantile(0.5)),
            p99_us: some(h.value_at_quantile(0.99)),
            max_us: some(h.max()),
            stock,
            histograms,
        });
        self.histograms.reset();
        if self.coarsen_up_to.is_some_and(|max| self.interval < max)
            && self.rows.len() >= COARSEN_AT
        {
            self.coarsen()?;
        }
        Ok(())
    }

    /// Merges the rows two by two and doubles the interval.
    fn coarsen(&mut self) -> anyhow::Result<()> {
        let rows = std::mem::take(&mut self.rows);
        let mut rows = rows.into_iter();
        while let Some(first) = rows.next() {
            match rows.next() {
                Some(second) => self.rows.push(merged(first, second)?),
                None => self.rows.push(first),
            }
        }
        self.interval *= 2;
        Ok(())
    }
}

/// Two consecutive rows as one.
fn merged(first: TimelineRow, second: TimelineRow) -> anyhow::Result<TimelineRow> {
    let mut counters = first.counters;
    counters.add(&second.counters);
    let mut histograms = Vec::with_capacity(first.histograms.len());
    let mut purchase = None;
    for ((phase, a), (_, b)) in first.histograms.iter().zip(&second.histograms) {
        let mut h = a.histogram()?;
        h.add(b.histogram()?)
            .map_err(|e| anyhow::anyhow!("merging two intervals: {e:?}"))?;
        if *phase == Phase::Purchase {
            purchase = Some(h.clone());
        }
        histograms.push((*phase, CompressedHistogram::new(&h)?));
    }
    let h = purchase.filter(|h| !h.is_empty());
    Ok(TimelineRow {
        start: first.start,
        end: second.end,
        length: first.length + second.length,
        counters,
        p50_us: h.as_ref().map(|h| h.value_at_quantile(0.5)),
        p99_us: h.as_ref().map(|h| h.value_at_quantile(0.99)),
        max_us: h.as_ref().map(|h| h.max()),
        stock: second.stock,
        histograms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{new_histogram, Batch};

    fn batch(us: u64) -> Batch {
        let mut h = new_histogram();
        h.record(us).unwrap();
        let buckets = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        Batch {
            counters: Counters {
                attempts: 1,
                sales: 1,
                ..Counters::default()
            },
            holds: Vec::new(),
            buyers: Vec::new(),
            buyer_segments: Vec::new(),
            ops: Vec::new(),
            sales_span: None,
            instances_in_flight: Vec::new(),
            watermark_ns: 0,
            lock_wait: Vec::new(),
            critical_section: Vec::new(),
            purchase: buckets,
            service: Vec::new(),
            pool_wait: Vec::new(),
        }
    }

    #[test]
    fn an_adaptive_timeline_doubles_its_interval_and_loses_nothing() {
        let mut t = Timeline::new(Duration::from_secs(1), true);
        let mut totals = PhaseHistograms::default();
        let mut end = Duration::ZERO;
        for i in 0..200u64 {
            t.add(&batch(100 + i)).unwrap();
            end += t.interval();
            t.close(end, Some(1000 - i as i64), &mut totals).unwrap();
            if i < 139 {
                assert!(
                    t.rows.len() < COARSEN_AT,
                    "close {i}: {} rows",
                    t.rows.len()
                );
            }
        }
        // 15.625 ms doubled six times, at every 40 rows, up to 1 s; then
        // rows of 1 s: 20 + 60.
        assert_eq!(t.interval(), Duration::from_secs(1));
        assert_eq!(t.rows.len(), 80);
        let sales: u64 = t.rows.iter().map(|r| r.counters.sales).sum();
        assert_eq!(sales, 200);
        assert_eq!(t.rows.last().unwrap().end, end);
        assert_eq!(t.rows.last().unwrap().stock, Some(801));
        let purchase = t
            .rows
            .iter()
            .flat_map(|r| &r.histograms)
            .filter(|(p, _)| *p == Phase::Purchase);
        let purchases: u64 = purchase.map(|(_, h)| h.histogram().unwrap().len()).sum();
        assert_eq!(purchases, 200, "every sample in some row");
        assert_eq!(totals.purchase.len(), 200);
        for pair in t.rows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "rows are contiguous");
        }
    }

    #[test]
    fn an_explicit_interval_is_kept() {
        let mut t = Timeline::new(Duration::from_millis(200), false);
        let mut totals = PhaseHistograms::default();
        for i in 1..=100u32 {
            t.close(Duration::from_millis(200) * i, None, &mut totals)
                .unwrap();
        }
        assert_eq!(t.rows.len(), 100);
        assert_eq!(t.interval(), Duration::from_millis(200));
    }
}
