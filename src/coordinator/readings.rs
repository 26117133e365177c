//! The history's stock readings: a task of its own, on a connection of its
//! own, reads the stock every `audit.sample_interval` while the load runs,
//! each reading timed on this machine's monotonic clock. Apart from the
//! collector, so a slow read (a failover under way) never delays a fault or
//! a worker's batch; a lost connection finds the primary again, as the
//! control connection does.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::target::StockReader;
use crate::keys::Segments;

/// A read may take this long before it is given up; the next one starts
/// on time anyway.
const READ_LIMIT: Duration = Duration::from_secs(2);

/// `(sent, answered, units)`: monotonic ns, and the stock over every
/// segment.
pub type Sample = (u64, u64, i64);

pub struct Readings {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Vec<Sample>>,
}

impl Readings {
    /// Starts reading at once, then every `every`.
    pub fn start(mut reader: StockReader, segments: Segments, every: Duration) -> Readings {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = &mut stopped => break,
                }
                samples.extend(read(&mut reader, &segments).await);
            }
            // The last reading, after the load.
            samples.extend(read(&mut reader, &segments).await);
            samples
        });
        Readings {
            stop: Some(stop),
            task,
        }
    }

    /// Stops reading and hands over what was read.
    pub async fn finish(mut self) -> Vec<Sample> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap_or_default()
    }
}

async fn read(reader: &mut StockReader, segments: &Segments) -> Option<Sample> {
    let sent = crate::hold::monotonic_ns();
    let stock = tokio::time::timeout(READ_LIMIT, reader.stock(segments)).await;
    let answered = crate::hold::monotonic_ns();
    match stock {
        Ok(Ok(Some(units))) => Some((sent, answered, units)),
        _ => None,
    }
}
