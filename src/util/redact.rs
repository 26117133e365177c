//! The one redaction function: masks the password of every URL in a piece
//! of text, wherever it stands (a `--set` argument, a TOML snippet quoted in
//! an error, a Redis URL in a message). Every message that may carry a URL
//! goes through it before it is printed or written.

/// What a password is replaced with.
pub const MASK: &str = "***";

/// `text` with the password of every `scheme://user:password@host` masked:
/// `redis://:hunter2@h:1/0` -> `redis://:***@h:1/0`. A user name alone is
/// kept. A password may hold any character at all (a URL would need some
/// escaped, but a careless one is still a secret), so the user info runs to
/// the last `@` before the next URL or the end of the line: when in doubt,
/// this masks too much rather than too little.
pub fn redact(text: &str) -> String {
    let starts: Vec<usize> = text.match_indices("://").map(|(i, _)| i).collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (k, &start) in starts.iter().enumerate() {
        let from = start + 3;
        if from < copied {
            continue;
        }
        let next = starts
            .get(k + 1)
            .map_or(text.len(), |&j| scheme_start(text, j));
        let region = &text[from..next.max(from)];
        let line = &region[..region.find('\n').unwrap_or(region.len())];
        let Some(at) = line.rfind('@') else {
            continue;
        };
        if let Some(colon) = line[..at].find(':') {
            out.push_str(&text[copied..from + colon + 1]);
            out.push_str(MASK);
            copied = from + at;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// A comma-separated list of URLs, split only before the next
/// `scheme://`, so a comma inside a password does not cut it in two.
pub fn split_urls(list: &str) -> Vec<&str> {
    let mut cuts = vec![0];
    for (i, _) in list.match_indices("://") {
        let start = scheme_start(list, i);
        if let Some(comma) = list[..start].rfind(',') {
            let only_space = list[comma + 1..start].trim().is_empty();
            if only_space && comma + 1 > *cuts.last().unwrap_or(&0) {
                cuts.push(comma + 1);
            }
        }
    }
    cuts.iter()
        .enumerate()
        .map(|(k, &from)| {
            let to = cuts.get(k + 1).map_or(list.len(), |&next| next - 1);
            &list[from..to]
        })
        .collect()
}

/// Where the scheme before the `://` at `at` begins.
fn scheme_start(text: &str, at: usize) -> usize {
    let scheme = text[..at]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .count();
    at - scheme
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shapes() {
        let cases = [
            ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
            ("rediss://user:pw@h", "rediss://user:***@h"),
            ("redis://user@h:1", "redis://user@h:1"),
            ("no url here", "no url here"),
            (
                "--set redis.redlock_urls=redis://:pw@h:1/0,redis://:pw2@g:2/0",
                "--set redis.redlock_urls=redis://:***@h:1/0,redis://:***@g:2/0",
            ),
            (
                r#"--set redis={url="redis://:p@w@h:1/0",bogus=1}"#,
                r#"--set redis={url="redis://:***@h:1/0",bogus=1}"#,
            ),
            ("redis://:ab/cd#e f\"g@h:1/0", "redis://:***@h:1/0"),
            ("redis://h:1/0\nmail me@x", "redis://h:1/0\nmail me@x"),
            ("x ://:pw@h", "x ://:***@h"),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
        }
    }

    #[test]
    fn url_lists_split_only_between_urls() {
        let list = "redis://:a,b@h:1/0,redis://g:2/0, rediss://:x@k:3/0";
        assert_eq!(
            split_urls(list),
            ["redis://:a,b@h:1/0", "redis://g:2/0", " rediss://:x@k:3/0"]
        );
        assert_eq!(split_urls("redis://h:1/0"), ["redis://h:1/0"]);
    }

    /// Characters a password may hold, percent-encoded or not.
    const PASSWORD: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=%@:/?#\" <>{}|\\^`[]";
    const AROUND: [&str; 10] = ["", " ", "=", "\"", "'", "[", "{url=\"", "`", ",", "prefix "];
    const AFTER: [&str; 9] = ["", " ", "\"", "'", "]", "}", ",", "`", "\n"];

    fn password(rng: &mut fastrand::Rng) -> String {
        let len = rng.usize(8..24);
        let mut p: String = (0..len)
            .map(|_| PASSWORD[rng.usize(..PASSWORD.len())] as char)
            .collect();
        // A marker no host, port or scheme contains, so a leak is visible.
        p.insert_str(rng.usize(..=p.len()), "Zq9");
        // The one shape left out: `://` inside the user info (the colon
        // before the password included) reads as the start of another URL.
        let p = p.replace("://", ":_/");
        match p.strip_prefix("//") {
            Some(rest) => format!("_/{rest}"),
            None => p,
        }
    }

    /// Property: for any URL shape in any surrounding text, the password is
    /// gone and the host stays.
    #[test]
    fn no_password_survives_any_url_shape() {
        let mut rng = fastrand::Rng::with_seed(0x5ec1);
        for _ in 0..20_000 {
            let pw = password(&mut rng);
            let scheme = ["redis", "rediss", "redis+unix", "valkey"][rng.usize(..4)];
            let user = ["", "alice", "default"][rng.usize(..3)];
            let host = ["127.0.0.1", "localhost", "[::1]", "cache.internal"][rng.usize(..4)];
            let port = [String::new(), format!(":{}", rng.u16(1..))][rng.usize(..2)].clone();
            let path = ["", "/0", "/15", "/0?protocol=resp3"][rng.usize(..4)];
            let url = format!("{scheme}://{user}:{pw}@{host}{port}{path}");
            let copies = rng.usize(1..3);
            let mut text = String::new();
            for _ in 0..copies {
                text.push_str(AROUND[rng.usize(..AROUND.len())]);
                text.push_str(&url);
                text.push_str(AFTER[rng.usize(..AFTER.len())]);
            }
            let shown = redact(&text);
            assert!(!shown.contains("Zq9"), "{text:?} -> {shown:?}");
            assert!(shown.contains(host), "{text:?} -> {shown:?}");
        }
    }
}
