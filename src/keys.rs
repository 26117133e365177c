//! The Redis keys of one run. All of them share a per-run prefix with a hash
//! tag, `<key_prefix>:{<run id>}:`, so they land in one cluster slot and never
//! collide with another run's or anyone else's keys. Segmented stock has one
//! such set per segment, each with a hash tag of its own
//! (`{<run id>-s<i>...}`), so segments can live on different masters.

use serde::{Deserialize, Serialize};

use crate::scenario::{Piece, Template, Var};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    pub prefix: String,
    pub stock: String,
    pub lock: String,
    /// Counter handing out fencing tokens (`fenced`).
    pub fence: String,
    /// `record_orders`: the hash of sales, purchase id -> buyer
    /// (`{run}:orders`).
    pub orders: String,
}

impl Keys {
    pub fn for_run(key_prefix: &str, run_id: &str) -> Keys {
        let prefix = format!("{key_prefix}:{{{run_id}}}:");
        Keys {
            stock: format!("{prefix}stock"),
            lock: format!("{prefix}lock"),
            fence: format!("{prefix}fence"),
            orders: format!("{prefix}orders"),
            prefix,
        }
    }

    /// The prefix without its trailing `:`: what `{run}` stands for in the
    /// user's key templates, so `{run}:buyers` is a key of this run.
    pub fn run(&self) -> &str {
        self.prefix.strip_suffix(':').unwrap_or(&self.prefix)
    }

    /// The text of a user's template on this segment's keys; `attempt`
    /// writes the per-attempt placeholders (`{buyer}`, `{token}`, ...),
    /// which a segment-wide key never has.
    pub fn render(&self, t: &Template, attempt: impl Fn(Var, &mut String)) -> String {
        let mut out = String::new();
        self.render_into(t, &mut out, attempt);
        out
    }

    /// The same, appended to `out`: a purchase renders into a buffer it
    /// keeps, with no allocation once the buffer has grown.
    pub fn render_into(&self, t: &Template, out: &mut String, attempt: impl Fn(Var, &mut String)) {
        for piece in &t.pieces {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Var(Var::Stock) => out.push_str(&self.stock),
                Piece::Var(Var::Lock) => out.push_str(&self.lock),
                Piece::Var(Var::Run) => out.push_str(self.run()),
                Piece::Var(var) => attempt(*var, out),
            }
        }
    }

    /// Every key the run may create; the coordinator checks they are absent
    /// before the start and deletes them at the end.
    pub fn all(&self) -> [&str; 4] {
        [&self.stock, &self.lock, &self.fence, &self.orders]
    }

    /// The hash tag of segment `index` of `segments`, with `salt` to move
    /// it to another cluster slot: the run id alone for a single segment.
    pub fn segment_tag(run_id: &str, index: usize, segments: usize, salt: u32) -> String {
        match (segments, salt) {
            (1, 0) => run_id.to_owned(),
            (_, 0) => format!("{run_id}-s{index}"),
            _ => format!("{run_id}-s{index}-{salt}"),
        }
    }
}

/// The run's stock, split over segments: their keys and initial units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segments {
    pub keys: Vec<Keys>,
    pub initial: Vec<u64>,
}

impl Segments {
    /// `initial` units over one segment per key set, as evenly as possible
    /// (the first segments take one more when it does not divide).
    pub fn new(keys: Vec<Keys>, initial: u64) -> Segments {
        let n = keys.len() as u64;
        let initial = (0..n)
            .map(|i| initial / n + u64::from(i < initial % n))
            .collect();
        Segments { keys, initial }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_splits_as_evenly_as_possible() {
        let keys = |n: usize| {
            (0..n)
                .map(|i| Keys::for_run("s", &format!("r-s{i}")))
                .collect()
        };
        assert_eq!(Segments::new(keys(3), 100).initial, [34, 33, 33]);
        assert_eq!(Segments::new(keys(1), 7).initial, [7]);
        assert_eq!(Segments::new(keys(4), 2).initial, [1, 1, 0, 0]);
        assert_eq!(Keys::segment_tag("r", 0, 1, 0), "r");
        assert_eq!(Keys::segment_tag("r", 2, 3, 0), "r-s2");
        assert_eq!(Keys::segment_tag("r", 2, 3, 5), "r-s2-5");
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::for_run("seckill", "article-20261124T000000Z-ab12");
        assert_eq!(keys.stock, "seckill:{article-20261124T000000Z-ab12}:stock");
        for key in keys.all() {
            assert!(key.starts_with(&keys.prefix));
            assert_eq!(key.matches('{').count(), 1);
        }
    }
}
