//! The worker's ends of the protocol pipe: typed messages in from stdin,
//! out to stdout.

use std::io::Write;
use std::rc::Rc;

use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

use crate::protocol::{self, FromWorker, ToWorker};

pub struct Inbox {
    lines: Lines<BufReader<Stdin>>,
}

impl Inbox {
    pub fn stdin() -> Inbox {
        Inbox {
            lines: BufReader::new(tokio::io::stdin()).lines(),
        }
    }

    /// The next message, `None` when the coordinator closed the pipe.
    ///
    /// # Errors
    /// On a read error or a line that is not a message.
    pub async fn next(&mut self) -> anyhow::Result<Option<ToWorker>> {
        match self.lines.next_line().await? {
            Some(line) => protocol::decode(&line).map(Some),
            None => Ok(None),
        }
    }
}

/// Writes whole lines to stdout. Writes are synchronous: they are small and
/// the coordinator drains the pipe continuously.
#[derive(Clone)]
pub struct Outbox {
    out: Rc<std::io::Stdout>,
}

impl Outbox {
    pub fn stdout() -> Outbox {
        Outbox {
            out: Rc::new(std::io::stdout()),
        }
    }

    /// A failed write means the coordinator is gone; the closed stdin stops
    /// the worker, so the error is dropped here.
    pub fn send(&self, message: &FromWorker) {
        let mut out = self.out.lock();
        let _ = out.write_all(protocol::encode(message).as_bytes());
        let _ = out.flush();
    }
}
