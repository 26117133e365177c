//! What a user's Lua source asks Redis to wipe: `FLUSHALL`, `FLUSHDB`,
//! `SCRIPT FLUSH`, `FUNCTION FLUSH` in its code, found before any load.
//!
//! Redis commands reach `redis.call` as string literals, so the scan reads
//! the string literals of the code (comments skipped, long brackets and
//! the quote and backslash escapes understood; numeric escapes such as
//! `\65` are not decoded) and looks for those commands among them, in any
//! case. A command name the script builds at run time, or spells with
//! numeric escapes, is beyond it; the run's end still catches keys that
//! vanished (see the coordinator).
//! It does not decide what to do about a hit: the scenario does.

/// A wiping command in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flush {
    /// 1-based line of the command's (first) literal.
    pub line: usize,
    /// The command, upper case: `FLUSHALL`, `SCRIPT FLUSH`, ...
    pub command: &'static str,
}

/// Every wiping command in `source`, in order.
pub fn flushes(source: &str) -> Vec<Flush> {
    let literals = literals(source);
    let mut found = Vec::new();
    for (i, (line, text)) in literals.iter().enumerate() {
        let word = text.trim().to_ascii_lowercase();
        let next = literals
            .get(i + 1)
            .map(|(_, t)| t.trim().to_ascii_lowercase());
        let command = match word.as_str() {
            "flushall" => Some("FLUSHALL"),
            "flushdb" => Some("FLUSHDB"),
            "script flush" => Some("SCRIPT FLUSH"),
            "function flush" => Some("FUNCTION FLUSH"),
            "script" if next.as_deref() == Some("flush") => Some("SCRIPT FLUSH"),
            "function" if next.as_deref() == Some("flush") => Some("FUNCTION FLUSH"),
            _ => None,
        };
        if let Some(command) = command {
            found.push(Flush {
                line: *line,
                command,
            });
        }
    }
    found
}

/// The string literals of Lua code with the line each starts on.
fn literals(source: &str) -> Vec<(usize, String)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i += 2;
                if let Some(level) = long_bracket(&bytes[i..]) {
                    let (_, end) = long_body(bytes, i, level);
                    line += count_lines(&bytes[i..end]);
                    i = end;
                } else {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
            }
            b'[' if long_bracket(&bytes[i..]).is_some() => {
                let level = long_bracket(&bytes[i..]).unwrap_or(0);
                let (text, end) = long_body(bytes, i, level);
                out.push((line, text));
                line += count_lines(&bytes[i..end]);
                i = end;
            }
            quote @ (b'\'' | b'"') => {
                let start_line = line;
                let mut text = Vec::new();
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        if bytes[i + 1] == b'\n' {
                            line += 1;
                        }
                        text.push(bytes[i + 1]);
                        i += 2;
                    } else {
                        text.push(bytes[i]);
                        i += 1;
                    }
                }
                i += 1;
                out.push((start_line, String::from_utf8_lossy(&text).into_owned()));
            }
            _ => i += 1,
        }
    }
    out
}

/// `[[` or `[==[`: the number of `=`.
fn long_bracket(at: &[u8]) -> Option<usize> {
    if at.first() != Some(&b'[') {
        return None;
    }
    let level = at[1..].iter().take_while(|&&b| b == b'=').count();
    (at.get(1 + level) == Some(&b'[')).then_some(level)
}

/// The text of a long bracket opening at `start`, and where it ends.
fn long_body(bytes: &[u8], start: usize, level: usize) -> (String, usize) {
    let open = start + level + 2;
    let close: Vec<u8> = std::iter::once(b']')
        .chain(std::iter::repeat_n(b'=', level))
        .chain(std::iter::once(b']'))
        .collect();
    let end = bytes[open.min(bytes.len())..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map_or(bytes.len(), |p| open + p);
    let text = String::from_utf8_lossy(&bytes[open.min(end)..end]).into_owned();
    (text, (end + close.len()).min(bytes.len()))
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(source: &str) -> Vec<(usize, &'static str)> {
        flushes(source)
            .into_iter()
            .map(|f| (f.line, f.command))
            .collect()
    }

    #[test]
    fn wiping_calls_are_found_with_their_line_in_any_case() {
        let src = "local s = redis.call('GET', KEYS[1])\nredis.call(\"flushall\")\nredis.call('FlushDB', 'ASYNC')\nredis.call('SCRIPT',\n 'flush')\nredis.call([[function]], [==[FLUSH]==])\n";
        assert_eq!(
            commands(src),
            [
                (2, "FLUSHALL"),
                (3, "FLUSHDB"),
                (4, "SCRIPT FLUSH"),
                (6, "FUNCTION FLUSH")
            ]
        );
    }

    #[test]
    fn comments_and_lua_names_are_not_calls() {
        let src = "-- redis.call('FLUSHALL')\n--[[ redis.call('FLUSHDB')\n]]\nlocal function flush() return 1 end\nlocal flushall = 2\nreturn redis.call('DECR', KEYS[1]) -- 'flushdb'\n";
        assert_eq!(commands(src), []);
    }

    #[test]
    fn lines_after_a_long_comment_are_counted() {
        let src = "--[==[\n\n]==]\nredis.call('FLUSHDB')\n";
        assert_eq!(commands(src), [(4, "FLUSHDB")]);
    }
}
