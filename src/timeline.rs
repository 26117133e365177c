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

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub rows: Vec<TimelineRow>,
    counters: Counters,
    histograms: PhaseHistograms,
}

impl Timeline {
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
        Ok(())
    }
}
