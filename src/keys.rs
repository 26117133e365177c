//! The Redis keys of one run. All of them share a per-run prefix with a hash
//! tag, `<key_prefix>:{<run id>}:`, so they land in one cluster slot and never
//! collide with another run's or anyone else's keys.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    pub prefix: String,
    pub stock: String,
    pub lock: String,
    /// Counter handing out fencing tokens (`fenced`).
    pub fence: String,
}

impl Keys {
    pub fn for_run(key_prefix: &str, run_id: &str) -> Keys {
        let prefix = format!("{key_prefix}:{{{run_id}}}:");
        Keys {
            stock: format!("{prefix}stock"),
            lock: format!("{prefix}lock"),
            fence: format!("{prefix}fence"),
            prefix,
        }
    }

    /// Every key the run may create; the coordinator checks they are absent
    /// before the start and deletes them at the end.
    pub fn all(&self) -> [&str; 3] {
        [&self.stock, &self.lock, &self.fence]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
