//! Load shapes as data: how purchases are started (closed loop or fixed
//! rate) and how that changes over time (stages ramped linearly, like k6's
//! ramping executors). Pure arithmetic; the worker's pacer acts on it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How purchases are started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Pace {
    /// Closed loop: an active client starts its next purchase when the last
    /// one ends. `clients` is the number of active clients per process.
    Closed { clients: Ramp },
    /// Open loop: purchases arrive on a schedule whatever the responses,
    /// each timed from its intended start (no coordinated omission).
    Open {
        /// Purchases per second, for the whole run (all processes).
        rate: Ramp,
        arrivals: Arrivals,
        /// Arrivals waiting or running at once, whole run; beyond it they are dropped.
        max_in_flight: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arrivals {
    /// Evenly spaced.
    Fixed,
    /// Exponential gaps with the same mean: bursts, as real buyers arrive.
    Poisson,
}

/// A value over time: `start`, then each stage ramps linearly from the
/// previous value to its `target` over its `duration`; after the last stage
/// the last target holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ramp {
    pub start: f64,
    pub stages: Vec<RampStage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RampStage {
    pub duration: Duration,
    pub target: f64,
}

impl Ramp {
    pub fn constant(value: f64) -> Ramp {
        Ramp {
            start: value,
            stages: Vec::new(),
        }
    }

    /// Each stage as (from, to, start offset, duration).
    fn segments(&self) -> impl Iterator<Item = (f64, f64, Duration, Duration)> + '_ {
        let mut from = self.start;
        let mut offset = Duration::ZERO;
        self.stages.iter().map(move |s| {
            let segment = (from, s.target, offset, s.duration);
            from = s.target;
            offset += s.duration;
            segment
        })
    }

    fn last(&self) -> f64 {
        self.stages.last().map_or(self.start, |s| s.target)
    }

    /// The value at `t` since the start.
    pub fn at(&self, t: Duration) -> f64 {
        for (from, to, offset, duration) in self.segments() {
            if t < offset + duration {
                let share = (t - offset).as_secs_f64() / duration.as_secs_f64();
                return from + (to - from) * share;
            }
        }
        self.last()
    }

    /// How long the stages last; `None` without stages.
    pub fn length(&self) -> Option<Duration> {
        (!self.stages.is_empty()).then(|| self.stages.iter().map(|s| s.duration).sum())
    }

    pub fn max(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }

    /// The area under the ramp from 0 to `until`: for a rate, the number of
    /// arrivals it schedules.
    pub fn integral(&self, until: Duration) -> f64 {
        let mut area = 0.0;
        for (from, to, offset, duration) in self.segments() {
            if until <= offset {
                return area;
            }
            let covered = (until - offset).min(duration);
            let end = from + (to - from) * covered.as_secs_f64() / duration.as_secs_f64();
            area += (from + end) / 2.0 * covered.as_secs_f64();
        }
        let tail = until.saturating_sub(self.length().unwrap_or(Duration::ZERO));
        area + self.last() * tail.as_secs_f64()
    }

    /// When the area under the ramp reaches `area`: the inverse of
    /// [`Ramp::integral`], so a rate's `n`th arrival is at `when(n)`.
    /// `None` when the ramp ends at 0 below that area.
    pub fn when(&self, area: f64) -> Option<Duration> {
        let mut left = area.max(0.0);
        for (from, to, offset, duration) in self.segments() {
            let d = duration.as_secs_f64();
            let whole = (from + to) / 2.0 * d;
            if left <= whole && whole > 0.0 {
                // from·u + k·u²/2 = left, k the slope; the root written so
                // it holds for a rising, falling or flat segment.
                let k = (to - from) / d;
                let root = (from * from + 2.0 * k * left).max(0.0).sqrt();
                let u = match from + root {
                    sum if sum > 0.0 => 2.0 * left / sum,
                    _ => 0.0,
                };
                return Some(offset + Duration::from_secs_f64(u.min(d)));
            }
            left -= whole;
        }
        let end = self.length().unwrap_or(Duration::ZERO);
        match self.last() {
            rate if rate > 0.0 => Some(end + Duration::from_secs_f64((left / rate).min(1e9))),
            _ => None,
        }
    }

    /// The same shape with every value multiplied by `factor` (a worker's
    /// share of the total rate).
    pub fn scaled(&self, factor: f64) -> Ramp {
        Ramp {
            start: self.start * factor,
            stages: self
                .stages
                .iter()
                .map(|s| RampStage {
                    duration: s.duration,
                    target: s.target * factor,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn ramp() -> Ramp {
        // 0 -> 100 over 10 s, hold 100 for 5 s, 100 -> 0 over 5 s.
        let stage = |d: f64, target: f64| RampStage {
            duration: secs(d),
            target,
        };
        Ramp {
            start: 0.0,
            stages: vec![stage(10.0, 100.0), stage(5.0, 100.0), stage(5.0, 0.0)],
        }
    }

    #[test]
    fn interpolates_linearly_and_holds_the_last_target() {
        let r = ramp();
        assert_eq!(r.at(secs(0.0)), 0.0);
        assert!((r.at(secs(5.0)) - 50.0).abs() < 1e-9);
        assert_eq!(r.at(secs(12.0)), 100.0);
        assert!((r.at(secs(17.5)) - 50.0).abs() < 1e-9);
        assert_eq!(r.at(secs(30.0)), 0.0);
        assert_eq!(r.length(), Some(secs(20.0)));
        assert_eq!(r.max(), 100.0);
        assert_eq!(Ramp::constant(7.0).at(secs(99.0)), 7.0);
        assert_eq!(Ramp::constant(7.0).length(), None);
    }

    #[test]
    fn when_inverts_the_integral() {
        let r = ramp();
        for t in [0.0, 0.3, 5.0, 9.99, 10.0, 12.5, 15.0, 17.0, 19.9] {
            let area = r.integral(secs(t));
            let back = r.when(area).unwrap().as_secs_f64();
            assert!((back - t).abs() < 1e-6, "{t}: {back}");
        }
        // The ramp ends at 0 with 1,250 arrivals scheduled: no more.
        assert!(r.when(1249.9).is_some());
        assert_eq!(r.when(1250.5), None);
        let c = Ramp::constant(4.0);
        assert_eq!(c.when(0.0), Some(Duration::ZERO));
        assert!((c.when(10.0).unwrap().as_secs_f64() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn integral_counts_scheduled_arrivals() {
        let r = ramp();
        assert!((r.integral(secs(10.0)) - 500.0).abs() < 1e-6);
        assert!((r.integral(secs(20.0)) - 1250.0).abs() < 1e-6);
        assert!((r.integral(secs(5.0)) - 125.0).abs() < 1e-6);
        assert!((Ramp::constant(200.0).integral(secs(3.0)) - 600.0).abs() < 1e-6);
        assert!((r.scaled(0.5).integral(secs(20.0)) - 625.0).abs() < 1e-6);
    }
}
