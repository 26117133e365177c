//! The lock-holder watch over `[service]` instances: each instance reaches
//! Redis through a proxy of its own, and the proxy reads the RESP stream
//! both ways. A connection holds the lock from the `+OK` to its
//! `SET <lock> .. NX` (or the `:1` to its `SETNX <lock>`) until its `DEL`
//! or the TTL; a read of the stock key (`GET`, `WATCH`, ...) on that
//! connection while it holds the lock opens the critical section. Only a
//! read, and only on the connection that took the lock: another thread's
//! read, or the holder's write after its lock expired, is not the moment
//! a stale read begins. When a `lock-holder` fault is armed, the proxy holds that
//! command's reply back and tells the coordinator, which freezes the
//! instance and lets the reply go when the pause ends: the instance
//! resumes with a stale read of the stock, as after a GC pause. In a run
//! where no lock is ever taken (one atomic script, or no lock at all), an
//! instance is caught at its first read of, or script on, the stock key.
//! A write is never the moment: a fault that finds no such moment stays
//! armed, and the run says it was not applied.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

/// An instance caught in its critical section for an armed fault; its
/// command's reply waits for `release`.
pub struct Caught {
    pub instance: usize,
    pub fault: usize,
    /// Whether its connection held the lock (else: no lock was seen
    /// taken in the run so far).
    pub holding: bool,
    /// The command whose reply is held back (`GET`, `EVALSHA`, ...).
    pub command: String,
    pub release: oneshot::Sender<()>,
}

struct Shared {
    stock: Vec<u8>,
    lock: Vec<u8>,
    /// Some instance took the lock at least once.
    lock_seen: AtomicBool,
    armed: Mutex<Option<usize>>,
    events: mpsc::UnboundedSender<Caught>,
}

/// The run-wide watch: arming, and the instances it caught.
pub struct Taps {
    shared: Arc<Shared>,
    pub events: mpsc::UnboundedReceiver<Caught>,
}

impl Taps {
    pub fn new(stock: &str, lock: &str) -> Taps {
        let (tx, rx) = mpsc::unbounded_channel();
        Taps {
            shared: Arc::new(Shared {
                stock: stock.as_bytes().to_vec(),
                lock: lock.as_bytes().to_vec(),
                lock_seen: AtomicBool::new(false),
                armed: Mutex::new(None),
                events: tx,
            }),
            events: rx,
        }
    }

    /// The next critical section of any instance is caught for `fault`.
    pub fn arm(&self, fault: usize) {
        *self.shared.armed.lock().expect("not poisoned") = Some(fault);
    }

    pub fn disarm(&self) {
        *self.shared.armed.lock().expect("not poisoned") = None;
    }
}

/// One instance's side of the watch, shared by its connections.
#[derive(Clone)]
pub struct Tap {
    shared: Arc<Shared>,
    instance: usize,
}

/// One connection's hold of the lock: until when; `None`: not held.
#[derive(Debug, Default)]
pub struct Hold(Option<Instant>);

/// What a command does, as far as the watch cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `SET <lock> .. NX` or `SETNX <lock>`, with its TTL.
    LockTake(Duration),
    LockRelease,
    /// Names the stock key: the command, and how it touches it.
    Stock(String, Access),
    Other,
}

/// How a command touches the stock key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// A script or function given the key: what it does is its own.
    Script,
    Write,
}

/// Commands that only read a key: where a lock holder's critical section
/// begins.
const READS: [&str; 12] = [
    "GET", "MGET", "GETEX", "GETRANGE", "STRLEN", "EXISTS", "HGET", "HMGET", "HGETALL", "WATCH",
    "TYPE", "TTL",
];

/// A lock without a TTL is held until released; this stands for "long".
const NO_TTL: Duration = Duration::from_secs(3600);

impl Tap {
    pub fn new(taps: &Taps, instance: usize) -> Tap {
        Tap {
            shared: taps.shared.clone(),
            instance,
        }
    }

    /// What the command with these arguments does.
    pub fn classify(&self, args: &[Vec<u8>]) -> Kind {
        let Some(name) = args.first() else {
            return Kind::Other;
        };
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let (lock, stock) = (&self.shared.lock, &self.shared.stock);
        let names = |key: &[u8]| args[1..].iter().any(|a| a == key);
        match name.as_str() {
            "SET" if args.get(1) == Some(lock) => {
                let nx = args.iter().any(|a| a.eq_ignore_ascii_case(b"NX"));
                match nx {
                    true => Kind::LockTake(ttl(args)),
                    false => Kind::Other,
                }
            }
            "SETNX" if args.get(1) == Some(lock) => Kind::LockTake(NO_TTL),
            "DEL" | "UNLINK" if names(lock) => Kind::LockRelease,
            "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => {
                let n = args
                    .get(2)
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
                let keys = args.get(3..3 + n).unwrap_or(&[]);
                if keys.iter().any(|k| k == stock) {
                    Kind::Stock(name, Access::Script)
                } else if keys.iter().any(|k| k == lock) {
                    Kind::LockRelease
                } else {
                    Kind::Other
                }
            }
            _ if names(stock) => {
                let access = match READS.contains(&name.as_str()) {
                    true => Access::Read,
                    false => Access::Write,
                };
                Kind::Stock(name, access)
            }
            _ => Kind::Other,
        }
    }

    /// A reply arrived on a connection (its `hold`) for a command of
    /// `kind`: updates the hold, and when an armed fault catches this
    /// instance, returns what to wait on before passing the reply on.
    pub fn on_reply(
        &self,
        hold: &mut Hold,
        kind: Kind,
        reply: &[u8],
    ) -> Option<oneshot::Receiver<()>> {
        let now = Instant::now();
        match kind {
            Kind::LockTake(ttl) => {
                if reply.starts_with(b"+OK") || reply.starts_with(b":1\r") {
                    hold.0 = Some(now + ttl);
                    self.shared.lock_seen.store(true, Ordering::SeqCst);
                }
                None
            }
            Kind::LockRelease => {
                hold.0 = None;
                None
            }
            // Queued in a transaction: nothing was read yet.
            Kind::Stock(..) if reply.starts_with(b"+QUEUED") => None,
            Kind::Stock(command, access) => {
                let held = hold.0.is_some_and(|until| until > now);
                let unlocked = !self.shared.lock_seen.load(Ordering::SeqCst);
                let caught = match access {
                    Access::Read | Access::Script => held || unlocked,
                    Access::Write => false,
                };
                if !caught {
                    return None;
                }
                let fault = self.shared.armed.lock().expect("not poisoned").take()?;
                let (release, wait) = oneshot::channel();
                let caught = Caught {
                    instance: self.instance,
                    fault,
                    holding: held,
                    command,
                    release,
                };
                self.shared.events.send(caught).ok()?;
                Some(wait)
            }
            Kind::Other => None,
        }
    }
}

/// The TTL of a `SET .. PX n` / `EX n`.
fn ttl(args: &[Vec<u8>]) -> Duration {
    let number = |i: usize| {
        args.get(i)
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<u64>().ok())
    };
    for (i, a) in args.iter().enumerate() {
        if a.eq_ignore_ascii_case(b"PX") {
            return number(i + 1).map_or(NO_TTL, Duration::from_millis);
        }
        if a.eq_ignore_ascii_case(b"EX") {
            return number(i + 1).map_or(NO_TTL, Duration::from_secs);
        }
    }
    NO_TTL
}

/// Commands of one connection whose replies have not come yet; `blind`
/// once either side found what is not RESP (nothing is watched then).
#[derive(Default)]
pub struct Queue {
    pub kinds: VecDeque<Kind>,
    pub blind: bool,
}

pub type Pending = Arc<Mutex<Queue>>;

/// Deepest nesting of aggregates read; deeper is taken for not RESP.
const MAX_DEPTH: usize = 32;

/// The length of the first whole RESP value in `b`; `Ok(None)` while it
/// is incomplete, `Err` for what is not RESP.
pub fn frame_len(b: &[u8]) -> Result<Option<usize>, ()> {
    value_len(b, 0)
}

fn value_len(b: &[u8], depth: usize) -> Result<Option<usize>, ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = end + 2;
    let number = || -> Result<i64, ()> {
        std::str::from_utf8(&b[1..end])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or(())
    };
    match first {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Ok(Some(line)),
        b'$' | b'!' | b'=' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some(line));
            }
            let total = line + n as usize + 2;
            match b.len() >= total {
                true if &b[total - 2..total] == b"\r\n" => Ok(Some(total)),
                true => Err(()),
                false => Ok(None),
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some(line));
            }
            let items = match first {
                b'%' | b'|' => 2 * n as usize,
                _ => n as usize,
            };
            let mut at = line;
            for _ in 0..items {
                match value_len(&b[at..], depth + 1)? {
                    Some(len) => at += len,
                    None => return Ok(None),
                }
            }
            if first == b'|' {
                // An attribute comes before the value it describes.
                return Ok(value_len(&b[at..], depth + 1)?.map(|len| at + len));
            }
            Ok(Some(at))
        }
        _ => Err(()),
    }
}

/// A command's length in the stream, and its arguments.
pub type Command = (usize, Vec<Vec<u8>>);

/// The first whole command in `b`: its length and arguments, an array of
/// bulk strings. Inline commands (a line of words) are read too.
pub fn parse_command(b: &[u8]) -> Result<Option<Command>, ()> {
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    if first != b'*' {
        let Some(end) = b.iter().position(|&c| c == b'\n') else {
            return Ok(None);
        };
        let words = b[..end]
            .strip_suffix(b"\r")
            .unwrap_or(&b[..end])
            .split(|c| *c == b' ')
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        return Ok(Some((end + 1, words)));
    }
    let Some(len) = frame_len(b)? else {
        return Ok(None);
    };
    let end = b.windows(2).position(|w| w == b"\r\n").ok_or(())?;
    let n: usize = std::str::from_utf8(&b[1..end])
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or(())?;
    let mut args = Vec::with_capacity(n.min(64));
    let mut at = end + 2;
    for _ in 0..n {
        let item = frame_len(&b[at..])?.ok_or(())?;
        let head_end = b[at..].windows(2).position(|w| w == b"\r\n").ok_or(())?;
        let body = at + head_end + 2;
        // A command is an array of (non-null) bulk strings.
        if b[at] != b'$' || body + 2 > at + item {
            return Err(());
        }
        args.push(b[body..at + item - 2].to_vec());
        at += item;
    }
    Ok(Some((len, args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_values_are_framed_whole_or_not_at_all() {
        assert_eq!(frame_len(b"+OK\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"$3\r\nabc\r\n:1\r\n"), Ok(Some(9)));
        assert_eq!(frame_len(b"$3\r\nab"), Ok(None));
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n$1\r\nx\r\n"), Ok(Some(15)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert!(frame_len(b"hello\r\n").is_err());
        assert!(frame_len(b"$3\r\nabcXY").is_err(), "no terminator");
        let deep = "*1\r\n".repeat(10_000);
        assert!(frame_len(deep.as_bytes()).is_err(), "nesting capped");
    }

    #[test]
    fn commands_are_parsed_into_arguments() {
        let (len, args) = parse_command(b"*2\r\n$3\r\nGET\r\n$5\r\nstock\r\n*1")
            .unwrap()
            .unwrap();
        assert_eq!(len, 24);
        assert_eq!(args, [b"GET".to_vec(), b"stock".to_vec()]);
        let (len, args) = parse_command(b"PING hi\n*1\r\n").unwrap().unwrap();
        assert_eq!((len, args), (8, vec![b"PING".to_vec(), b"hi".to_vec()]));
        assert!(
            parse_command(b"*1\r\n$-1\r\n").is_err(),
            "a null is no argument"
        );
        assert!(parse_command(b"*1\r\n:5\r\n").is_err());
    }

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_lock_holder_is_caught_reading_the_stock_on_its_own_connection_only_when_armed() {
        let mut taps = Taps::new("s", "l");
        let tap = Tap::new(&taps, 2);
        let (mut mine, mut sibling) = (Hold::default(), Hold::default());
        let take = tap.classify(&words("SET l 1 NX PX 50"));
        assert_eq!(take, Kind::LockTake(Duration::from_millis(50)));
        assert!(tap.on_reply(&mut mine, take.clone(), b"+OK\r\n").is_none());
        let read = tap.classify(&words("GET s"));
        assert_eq!(read, Kind::Stock("GET".into(), Access::Read));
        let value = b"$2\r\n10\r\n";
        assert!(
            tap.on_reply(&mut mine, read.clone(), value).is_none(),
            "not armed"
        );
        taps.arm(0);
        let write = tap.classify(&words("INCRBY s -1"));
        assert!(
            tap.on_reply(&mut mine, write, b":9\r\n").is_none(),
            "a write"
        );
        assert!(
            tap.on_reply(&mut sibling, read.clone(), value).is_none(),
            "another connection's read, outside the lock"
        );
        let queued = tap.on_reply(&mut mine, read.clone(), b"+QUEUED\r\n");
        assert!(queued.is_none(), "queued in MULTI: not read yet");
        assert!(tap.on_reply(&mut mine, read.clone(), value).is_some());
        let caught = taps.events.try_recv().unwrap();
        assert_eq!(
            (caught.instance, caught.fault, caught.holding),
            (2, 0, true)
        );
        assert!(
            tap.on_reply(&mut mine, read, value).is_none(),
            "caught once"
        );
        assert_eq!(tap.classify(&words("DEL l")), Kind::LockRelease);
        assert_eq!(tap.classify(&words("SETNX l 1")), Kind::LockTake(NO_TTL));
    }

    #[test]
    fn without_any_lock_a_read_or_script_is_caught_never_a_write() {
        let mut taps = Taps::new("s", "l");
        let tap = Tap::new(&taps, 0);
        let mut conn = Hold::default();
        taps.arm(3);
        let write = tap.classify(&words("DECRBY s 1"));
        assert!(tap.on_reply(&mut conn, write, b":9\r\n").is_none());
        let call = tap.classify(&words("EVALSHA abc 2 s o 1 id 7"));
        assert_eq!(call, Kind::Stock("EVALSHA".into(), Access::Script));
        assert!(tap.on_reply(&mut conn, call, b"$4\r\nsold\r\n").is_some());
        assert!(!taps.events.try_recv().unwrap().holding);
    }
}
