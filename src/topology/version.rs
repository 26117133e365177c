//! Which server answered, in its own words: the program and its version
//! from `INFO server`, for the report's `server` column. Parsing only; the
//! coordinator asks (`coordinator/target.rs`).
//!
//! Redis names itself by `redis_version` alone. Valkey adds `server_name`
//! and `valkey_version`, and keeps `redis_version` at a fixed compatibility
//! value (7.2.4 in Valkey 8): that one is never Valkey's own version. A
//! fork that names itself in `server_name` is read the same way.

use std::fmt;

use crate::scenario::Server;

/// A server program and, when it said, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `redis`, `valkey`, or what `server_name` says.
    pub name: String,
    /// `None` when the server named itself but not its version: its
    /// `redis_version` would be a compatibility value, not its own.
    pub version: Option<String>,
}

impl ServerVersion {
    /// Reads the `INFO server` text; `None` without `redis_version` or
    /// `server_name` (not a server's INFO).
    pub fn from_info(info: &str) -> Option<ServerVersion> {
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let (name, version) = match field("server_name") {
            Some(name) => (name, field(&format!("{name}_version"))),
            None => ("redis", Some(field("redis_version")?)),
        };
        Some(ServerVersion {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// Whether this is the program `server` starts.
    pub fn is(&self, server: Server) -> bool {
        self.name == server.name()
    }
}

/// `valkey 8.0.1`, `redis 7.0.15`; the name alone without a version.
impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{} {version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first lines of `INFO server` from redis-server 7.0.15 and
    /// valkey-server 8.0.1 (Debian bookworm and bookworm-backports).
    const REDIS: &str = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\
        redis_mode:standalone\r\ngcc_version:12.2.0\r\nrun_id:37e2\r\n";
    const VALKEY: &str = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\n\
        valkey_version:8.0.1\r\nserver_mode:standalone\r\ngcc_version:12.2.0\r\n";

    #[test]
    fn valkey_is_named_by_its_own_version_not_the_compatibility_one() {
        let valkey = ServerVersion::from_info(VALKEY).unwrap();
        assert_eq!(valkey.to_string(), "valkey 8.0.1");
        assert!(valkey.is(Server::Valkey) && !valkey.is(Server::Redis));
        let redis = ServerVersion::from_info(REDIS).unwrap();
        assert_eq!(redis.to_string(), "redis 7.0.15");
        assert!(redis.is(Server::Redis));
    }

    #[test]
    fn a_named_server_without_its_version_shows_no_borrowed_one() {
        let info = VALKEY.replace("valkey_version:8.0.1\r\n", "");
        let valkey = ServerVersion::from_info(&info).unwrap();
        assert_eq!(valkey.version, None);
        assert_eq!(valkey.to_string(), "valkey");
        assert_eq!(
            ServerVersion::from_info("# Sentinel\r\nsentinel_masters:1\r\n"),
            None
        );
    }
}
