//! The lock-safety checker: proves, from the clients' own clocks, that two
//! clients believed they held the lock at once.
//!
//! For every purchase of a lock strategy that reached its stock write, the
//! worker records a [`Hold`]: when its client received the reply granting
//! the lock, and when it sent the stock write, both on the host's monotonic
//! clock. The lock was granted no earlier than the first instant and, unless
//! it expired or was wrongly deleted, not released before the second. So
//! two holds of different clients that overlap prove the lock failed to
//! exclude: both clients were inside it at once.
//!
//! Workers on one host share `CLOCK_MONOTONIC`, so holds are comparable only
//! within one host: a run over several `[hosts]` has one checker per host
//! (each on its host's clock), and their findings are added up.
//!
//! Memory stays bounded: each batch carries a watermark (no hold the worker
//! reports later was granted before it), and a hold that ended before every
//! live worker's watermark can overlap nothing still to come, so it is
//! dropped. Only holds that end within the slowest worker's open hold are
//! kept: a few milliseconds' worth, unless a worker is paused while holding.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hold::Hold;

/// A client of the run: worker index and client index within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId {
    pub worker: u32,
    pub client: u32,
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}c{}", self.worker, self.client)
    }
}

/// A hold on the run's clock: times since the common start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub client: ClientId,
    pub granted: Duration,
    pub write_sent: Duration,
    pub applied: bool,
}

impl Span {
    fn overlaps(&self, other: &Span) -> bool {
        self.client != other.client
            && self.granted < other.write_sent
            && other.granted < self.write_sent
    }
}

/// Two clients inside the lock at once. `stale` was granted first: its
/// lock expired (or was deleted) before it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap {
    pub stale: Span,
    pub newer: Span,
}

impl Overlap {
    fn of(a: Span, b: Span) -> Overlap {
        if (a.granted, a.client) <= (b.granted, b.client) {
            Overlap { stale: a, newer: b }
        } else {
            Overlap { stale: b, newer: a }
        }
    }

    /// Both writes took effect: a double sale of the lock.
    pub fn is_unsafe(&self) -> bool {
        self.stale.applied && self.newer.applied
    }
}

/// The holds around the first overlap, for the `locks.svg` Gantt strip.
#[derive(Debug, Clone, PartialEq)]
pub struct LockWindow {
    pub ttl: Duration,
    pub first: Overlap,
    /// From the start of the stale hold less some margin, to the end of the
    /// later write plus the margin.
    pub from: Duration,
    pub to: Duration,
    /// Holds of at most [`WINDOW_CLIENTS`] clients that fall in the window.
    pub spans: Vec<Span>,
}

/// How many explained overlaps the report keeps (one per pair of clients).
pub const EXAMPLES: usize = 3;
/// How many clients the Gantt strip shows.
pub const WINDOW_CLIENTS: usize = 8;
/// How many holds the Gantt strip keeps.
const WINDOW_SPANS: usize = 400;

/// What the checker concluded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LockSafety {
    /// Holds compared.
    pub holds: u64,
    /// Overlapping pairs whose writes both applied.
    pub unsafe_overlaps: u64,
    /// Overlapping pairs in which a write was refused.
    pub fenced_overlaps: u64,
    /// The first unsafe overlap of each of the first few pairs of clients.
    pub examples: Vec<Overlap>,
    /// The first fenced overlap, when there was no unsafe one to show.
    pub fenced_example: Option<Overlap>,
    pub window: Option<LockWindow>,
    /// Hosts whose holds were compared, each only with its own: clocks of
    /// different hosts are not comparable.
    pub hosts: usize,
}

impl LockSafety {
    /// The findings of several hosts' checkers as one.
    pub fn merged(parts: Vec<LockSafety>) -> LockSafety {
        let mut all = LockSafety {
            hosts: parts.len(),
            ..LockSafety::default()
        };
        for part in parts {
            all.holds += part.holds;
            all.unsafe_overlaps += part.unsafe_overlaps;
            all.fenced_overlaps += part.fenced_overlaps;
            let room = EXAMPLES - all.examples.len().min(EXAMPLES);
            all.examples.extend(part.examples.into_iter().take(room));
            all.fenced_example = all.fenced_example.or(part.fenced_example);
            let unsafe_window =
                |w: &Option<LockWindow>| w.as_ref().is_some_and(|w| w.first.is_unsafe());
            if all.window.is_none() || (!unsafe_window(&all.window) && unsafe_window(&part.window))
            {
                all.window = part.window.or(all.window);
            }
        }
        all
    }
}

/// Finds overlapping holds as batches arrive.
pub struct Checker {
    ttl: Duration,
    /// The run's start on the monotonic clock.
    start_ns: u64,
    /// Holds that may still overlap one not yet reported, by when their
    /// write was sent (and arrival, to keep equal instants apart): a new
    /// hold is compared only with those that ended after it was granted.
    live: BTreeMap<(Duration, u64), Span>,
    arrivals: u64,
    /// Per worker: its last watermark; `None` once it can report no more.
    watermarks: Vec<Option<u64>>,
    /// The run-wide index of this checker's first worker (its host's).
    first_worker: usize,
    /// The most holds kept at once, for the memory claim.
    pub peak_live: usize,
    pub result: LockSafety,
}

impl Checker {
    /// For the run-wide `workers`, all on one host, whose monotonic clock
    /// read `start_ns` at the start.
    pub fn new(ttl: Duration, start_ns: u64, workers: std::ops::Range<usize>) -> Checker {
        Checker {
            ttl,
            start_ns,
            live: BTreeMap::new(),
            arrivals: 0,
            watermarks: vec![Some(start_ns); workers.len()],
            first_worker: workers.start,
            peak_live: 0,
            result: LockSafety::default(),
        }
    }

    fn at(&self, ns: u64) -> Duration {
        Duration::from_nanos(ns.saturating_sub(self.start_ns))
    }

    /// Adds a worker's holds and its watermark: no hold it reports later was
    /// granted before `watermark_ns`.
    pub fn add(&mut self, worker: usize, holds: &[Hold], watermark_ns: u64) {
        for hold in holds {
            let span = Span {
                client: ClientId {
                    worker: worker as u32,
                    client: hold.client,
                },
                granted: self.at(hold.granted_ns),
                write_sent: self.at(hold.write_ns),
                applied: hold.applied,
            };
            self.insert(span);
        }
        if let Some(mark) = self.watermarks.get_mut(worker - self.first_worker) {
            *mark = Some(watermark_ns);
        }
        self.evict();
    }

    /// The worker is done or dead: it reports nothing more.
    pub fn finished(&mut self, worker: usize) {
        if let Some(mark) = self.watermarks.get_mut(worker - self.first_worker) {
            *mark = None;
        }
        self.evict();
    }

    fn insert(&mut self, span: Span) {
        self.result.holds += 1;
        let found: Vec<Overlap> = self
            .live
            .range((span.granted, u64::MAX)..)
            .map(|(_, other)| other)
            .filter(|other| other.overlaps(&span))
            .map(|other| Overlap::of(*other, span))
            .collect();
        for overlap in found {
            self.count(overlap);
        }
        if let Some(window) = &mut self.result.window {
            window.offer(span);
        }
        self.arrivals += 1;
        self.live.insert((span.write_sent, self.arrivals), span);
        self.peak_live = self.peak_live.max(self.live.len());
    }

    fn count(&mut self, overlap: Overlap) {
        let r = &mut self.result;
        if overlap.is_unsafe() {
            r.unsafe_overlaps += 1;
            let pair = |o: &Overlap| (o.stale.client, o.newer.client);
            let new_pair = r.examples.iter().all(|e| pair(e) != pair(&overlap));
            if r.examples.len() < EXAMPLES && new_pair {
                r.examples.push(overlap);
            }
            if r.examples.len() == 1 && r.window.as_ref().is_none_or(|w| !w.first.is_unsafe()) {
                r.window = Some(LockWindow::around(overlap, self.ttl, self.live.values()));
            }
        } else {
            r.fenced_overlaps += 1;
            if r.fenced_example.is_none() {
                r.fenced_example = Some(overlap);
                if r.window.is_none() {
                    r.window = Some(LockWindow::around(overlap, self.ttl, self.live.values()));
                }
            }
        }
    }

    /// Drops holds that ended before every live worker's watermark.
    fn evict(&mut self) {
        let Some(low) = self.watermarks.iter().flatten().min().copied() else {
            self.live.clear();
            return;
        };
        let low = self.at(low);
        self.live = self.live.split_off(&(low, 0));
    }
}

impl LockWindow {
    fn around<'a>(first: Overlap, ttl: Duration, live: impl IntoIterator<Item = &'a Span>) -> Self {
        let from = first.stale.granted.min(first.newer.granted);
        let to = first.stale.write_sent.max(first.newer.write_sent);
        let margin = ((to - from) / 4).max(Duration::from_millis(1));
        let mut window = LockWindow {
            ttl,
            first,
            from: from.saturating_sub(margin),
            to: to + margin,
            spans: vec![first.stale, first.newer],
        };
        for span in live {
            window.offer(*span);
        }
        window
    }

    fn clients(&self) -> usize {
        let mut ids: Vec<ClientId> = self.spans.iter().map(|s| s.client).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Keeps `span` if it falls in the window and its client has a row.
    fn offer(&mut self, span: Span) {
        let inside = span.granted < self.to && span.write_sent > self.from;
        if !inside || self.spans.len() >= WINDOW_SPANS || self.spans.contains(&span) {
            return;
        }
        let known = self.spans.iter().any(|s| s.client == span.client);
        if known || self.clients() < WINDOW_CLIENTS {
            self.spans.push(span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn hold(client: u32, from_ms: u64, to_ms: u64) -> Hold {
        Hold {
            client,
            granted_ns: from_ms * MS,
            write_ns: to_ms * MS,
            applied: true,
        }
    }

    fn checker(workers: usize) -> Checker {
        Checker::new(Duration::from_millis(30), 0, 0..workers)
    }

    #[test]
    fn touching_holds_do_not_overlap() {
        let mut c = checker(1);
        c.add(0, &[hold(0, 0, 10), hold(1, 10, 20), hold(2, 20, 30)], 0);
        assert_eq!(c.result.unsafe_overlaps, 0);
        assert_eq!(c.result.holds, 3);
        assert!(c.result.window.is_none());
    }

    #[test]
    fn nested_hold_is_one_unsafe_overlap_with_the_outer_one_stale() {
        let mut c = checker(2);
        c.add(0, &[hold(0, 0, 100)], 0);
        c.add(1, &[hold(0, 40, 50)], 0);
        let r = &c.result;
        assert_eq!((r.unsafe_overlaps, r.fenced_overlaps), (1, 0));
        let first = r.examples[0];
        assert_eq!(
            first.stale.client,
            ClientId {
                worker: 0,
                client: 0
            }
        );
        assert_eq!(first.newer.granted, Duration::from_millis(40));
        let window = r.window.as_ref().expect("a window around the overlap");
        assert_eq!(window.spans.len(), 2);
        assert!(window.from <= Duration::ZERO + Duration::from_millis(1));
    }

    #[test]
    fn interleaved_holds_across_three_clients_count_each_pair_once() {
        // a [0,30) b [20,50) c [40,70): a-b and b-c overlap, a-c do not.
        let mut c = checker(3);
        c.add(0, &[hold(0, 0, 30)], 0);
        c.add(2, &[hold(0, 40, 70)], 0);
        c.add(1, &[hold(0, 20, 50)], 0);
        assert_eq!(c.result.unsafe_overlaps, 2);
        // One more arrival that overlaps all three.
        c.add(1, &[hold(1, 25, 45)], 0);
        assert_eq!(c.result.unsafe_overlaps, 5);
    }

    #[test]
    fn a_client_never_overlaps_itself() {
        let mut c = checker(1);
        c.add(0, &[hold(0, 0, 30), hold(0, 10, 40)], 0);
        assert_eq!(c.result.unsafe_overlaps, 0);
    }

    #[test]
    fn a_refused_write_makes_the_overlap_fenced() {
        let mut c = checker(2);
        let mut stale = hold(0, 0, 100);
        stale.applied = false;
        c.add(0, &[stale], 0);
        c.add(1, &[hold(0, 40, 50)], 0);
        let r = &c.result;
        assert_eq!((r.unsafe_overlaps, r.fenced_overlaps), (0, 1));
        assert!(r.fenced_example.is_some());
        assert!(
            r.window.is_some(),
            "a fenced overlap is drawn when no unsafe one exists"
        );
    }

    #[test]
    fn holds_behind_every_watermark_are_dropped_and_memory_stays_flat() {
        let mut c = checker(2);
        for i in 0..10_000u64 {
            let w = (i % 2) as usize;
            let t = i * 10;
            c.add(w, &[hold(0, t, t + 5)], (t + 6) * MS);
        }
        assert!(c.peak_live <= 3, "peak {}", c.peak_live);
        assert_eq!(c.result.unsafe_overlaps, 0);
        c.finished(0);
        c.finished(1);
        assert!(c.live.is_empty());
    }

    #[test]
    fn a_hold_still_open_keeps_what_it_may_overlap() {
        // Worker 1 holds the lock from 5 ms on (its watermark stays at 5 ms)
        // while worker 0 goes on; its hold then overlaps every later one.
        let mut c = checker(2);
        c.add(1, &[], 5 * MS);
        for i in 1..=20u64 {
            c.add(0, &[hold(0, i * 10, i * 10 + 2)], (i * 10 + 3) * MS);
        }
        c.add(1, &[hold(0, 5, 300)], 300 * MS);
        assert_eq!(c.result.unsafe_overlaps, 20);
    }
}
