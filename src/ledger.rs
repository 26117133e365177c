//! The harness's own ledger of sales per buyer, built from the replies the
//! workers received, never read back from Redis (Redis is what is judged).
//! Compact: two bytes per buyer (a saturating count), plus one per buyer
//! for the segment of its first sale when the stock is segmented, so 10
//! million buyers take 20 to 30 MB in the coordinator.

/// `segments[b]`: no sale yet.
const NO_SEGMENT: u8 = 0;
/// `segments[b]`: sales on more than one segment.
const SEVERAL: u8 = u8::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    counts: Vec<u16>,
    /// Segment of the first sale + 1, or [`SEVERAL`]; empty with one segment.
    segments: Vec<u8>,
}

/// Buyers over a limit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Violations {
    /// Buyers with more sales than the limit.
    pub buyers: u64,
    /// Of those, buyers whose sales were on more than one segment: a limit
    /// that no per-segment script could enforce.
    pub across_segments: u64,
    /// The first few, by buyer id: (buyer, sales).
    pub examples: Vec<(u64, u32)>,
}

/// Buyers named in a violation's report.
const EXAMPLES: usize = 5;

impl Ledger {
    /// A ledger for buyer ids `0..buyers`.
    pub fn new(buyers: u64, segments: usize) -> Ledger {
        let n = usize::try_from(buyers).expect("buyers.count is bounded by validation");
        Ledger {
            counts: vec![0; n],
            segments: if segments > 1 {
                vec![NO_SEGMENT; n]
            } else {
                Vec::new()
            },
        }
    }

    /// Adds one batch: the buyer of each sale and, with several segments,
    /// the segment it sold on.
    ///
    /// # Errors
    /// A buyer id outside `0..buyers`, or a batch whose two lists differ
    /// in length: a worker that does not follow the plan.
    pub fn add(&mut self, buyers: &[u64], segments: &[u8]) -> anyhow::Result<()> {
        let several = !self.segments.is_empty();
        if several && segments.len() != buyers.len() {
            anyhow::bail!(
                "a batch names {} buyers but {} segments",
                buyers.len(),
                segments.len()
            );
        }
        for (i, &buyer) in buyers.iter().enumerate() {
            let b = usize::try_from(buyer)
                .ok()
                .filter(|&b| b < self.counts.len())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "buyer {buyer} is not one of the run's {}",
                        self.counts.len()
                    )
                })?;
            self.counts[b] = self.counts[b].saturating_add(1);
            if several {
                let seen = &mut self.segments[b];
                let this = segments[i].saturating_add(1).min(SEVERAL - 1);
                *seen = match *seen {
                    NO_SEGMENT => this,
                    s if s == this => s,
                    _ => SEVERAL,
                };
            }
        }
        Ok(())
    }

    /// Buyers with more than `limit` sales.
    pub fn over(&self, limit: u32) -> Violations {
        let mut v = Violations::default();
        for (b, &count) in self.counts.iter().enumerate() {
            if u32::from(count) <= limit {
                continue;
            }
            v.buyers += 1;
            if self.segments.get(b) == Some(&SEVERAL) {
                v.across_segments += 1;
            }
            if v.examples.len() < EXAMPLES {
                v.examples.push((b as u64, u32::from(count)));
            }
        }
        v
    }

    /// Bytes the ledger holds, for the Performance section.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * 2 + self.segments.capacity()
    }
}

/// Orders per buyer as Redis's order stream records them, for the same
/// check from Redis's side; and orders naming no buyer of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBook {
    counts: Vec<u16>,
    /// Orders whose buyer field is missing or not a buyer id of the run.
    pub unknown: u64,
    /// The first such buyer field, shown in the report.
    pub unknown_example: Option<String>,
}

impl OrderBook {
    pub fn new(buyers: u64) -> OrderBook {
        let n = usize::try_from(buyers).expect("buyers.count is bounded by validation");
        OrderBook {
            counts: vec![0; n],
            unknown: 0,
            unknown_example: None,
        }
    }

    /// One order, by the text of its buyer field (`None`: no such field).
    pub fn add(&mut self, buyer: Option<&str>) {
        let id = buyer
            .and_then(|b| b.parse::<usize>().ok())
            .filter(|&b| b < self.counts.len());
        match id {
            Some(b) => self.counts[b] = self.counts[b].saturating_add(1),
            None => {
                self.unknown += 1;
                if self.unknown_example.is_none() {
                    self.unknown_example = Some(buyer.unwrap_or("(no buyer field)").to_owned());
                }
            }
        }
    }

    /// Buyers with more than `limit` orders.
    pub fn over(&self, limit: u32) -> Violations {
        let mut v = Violations::default();
        for (b, &count) in self.counts.iter().enumerate() {
            if u32::from(count) > limit {
                v.buyers += 1;
                if v.examples.len() < EXAMPLES {
                    v.examples.push((b as u64, u32::from(count)));
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_batches_merge_into_per_buyer_counts() {
        let mut ledger = Ledger::new(10, 1);
        ledger.add(&[1, 2, 3], &[]).unwrap();
        ledger.add(&[3, 4], &[]).unwrap();
        ledger.add(&[3], &[]).unwrap();
        assert_eq!(ledger.over(1).buyers, 1);
        assert_eq!(ledger.over(1).examples, [(3, 3)]);
        assert_eq!(ledger.over(2).buyers, 1);
        assert_eq!(ledger.over(3), Violations::default());
        assert!(
            ledger.add(&[10], &[]).is_err(),
            "buyer 10 of 10 is out of range"
        );
    }

    #[test]
    fn a_buyer_over_the_limit_on_two_segments_is_counted_across() {
        let mut ledger = Ledger::new(5, 3);
        ledger.add(&[0, 0, 1, 1], &[2, 2, 0, 1]).unwrap();
        let v = ledger.over(1);
        assert_eq!((v.buyers, v.across_segments), (2, 1));
        assert_eq!(v.examples, [(0, 2), (1, 2)]);
        assert!(ledger.add(&[0], &[]).is_err(), "segments missing");
    }

    #[test]
    fn counts_saturate_rather_than_wrap() {
        let mut ledger = Ledger::new(1, 1);
        ledger.add(&vec![0; 70_000], &[]).unwrap();
        assert_eq!(ledger.over(65_000).examples, [(0, u32::from(u16::MAX))]);
    }

    #[test]
    fn orders_count_per_buyer_and_unknown_buyers() {
        let mut book = OrderBook::new(3);
        for b in [Some("0"), Some("2"), Some("2"), Some("7"), None, Some("x")] {
            book.add(b);
        }
        assert_eq!(book.over(1).examples, [(2, 2)]);
        assert_eq!(book.unknown, 3);
        assert_eq!(book.unknown_example.as_deref(), Some("7"));
    }
}
