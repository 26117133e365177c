//! A small TCP proxy between the workers (or one `[service]` instance) and
//! Redis, started only when a scenario's faults need it: it can delay
//! every chunk for a window, or drop every connection at once; with a
//! [`Tap`], it also reads the RESP stream to catch an instance in its
//! critical section (see [`super::tap`]). The coordinator's own control
//! connection goes around it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::tap::{frame_len, parse_command, Hold, Kind, Pending};
pub use super::tap::{Tap, Taps};

/// What every proxied connection obeys.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Mode {
    delay: Duration,
    jitter: Duration,
    /// Bumped to drop every open connection.
    generation: u64,
}

pub struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    /// Connections forwarding right now: a fault's evidence.
    open: Arc<AtomicUsize>,
    /// When anything last went through, in ms since `born`.
    last: Arc<std::sync::atomic::AtomicU64>,
    born: std::time::Instant,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`; with a
    /// `tap`, watching the commands for the lock holder.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(upstream: String, tap: Option<Tap>) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("starting the fault proxy")?;
        let port = listener.local_addr()?.port();
        let (mode, watcher) = watch::channel(Mode::default());
        let open = Arc::new(AtomicUsize::new(0));
        let born = std::time::Instant::now();
        let last = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = Seen {
            last: last.clone(),
            born,
        };
        let accept = tokio::spawn(accept(listener, upstream, watcher, open.clone(), tap, seen));
        Ok(Proxy {
            port,
            mode,
            open,
            last,
            born,
            accept,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns how many connections it applies to now.
    pub fn set_latency(&self, delay: Duration, jitter: Duration) -> usize {
        self.mode.send_modify(|m| {
            m.delay = delay;
            m.jitter = jitter;
        });
        self.open.load(Ordering::SeqCst)
    }

    /// How long nothing went through.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(last)
    }

    /// Returns how many connections it dropped.
    pub fn disconnect_all(&self) -> usize {
        let open = self.open.load(Ordering::SeqCst);
        self.mode.send_modify(|m| m.generation += 1);
        open
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    mode: watch::Receiver<Mode>,
    open: Arc<AtomicUsize>,
    tap: Option<Tap>,
    seen: Seen,
) {
    while let Ok((client, _)) = listener.accept().await {
        let upstream = upstream.clone();
        let mode = mode.clone();
        let open = open.clone();
        let tap = tap.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&upstream).await {
                let _ = server.set_nodelay(true);
                let _ = client.set_nodelay(true);
                open.fetch_add(1, Ordering::SeqCst);
                forward(client, server, mode, tap, seen).await;
                open.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
}

/// Copies both ways until either side closes or a disconnect is ordered.
async fn forward(
    client: TcpStream,
    server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    tap: Option<Tap>,
    seen: Seen,
) {
    let generation = mode.borrow().generation;
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let (m1, m2) = (mode.clone(), mode.clone());
    let cut =
        async { while mode.changed().await.is_ok() && mode.borrow().generation == generation {} };
    match tap {
        None => tokio::select! {
            () = copy(&mut client_rx, &mut server_tx, m1, &seen) => {}
            () = copy(&mut server_rx, &mut client_tx, m2, &seen) => {}
            () = cut => {}
        },
        Some(tap) => {
            let pending = Pending::default();
            tokio::select! {
                () = commands(&mut client_rx, &mut server_tx, m1, &tap, &pending, &seen) => {}
                () = replies(&mut server_rx, &mut client_tx, m2, &tap, &pending, &seen) => {}
                () = cut => {}
            }
        }
    }
}

/// When anything last went through a proxy.
#[derive(Clone)]
struct Seen {
    last: Arc<std::sync::atomic::AtomicU64>,
    born: std::time::Instant,
}

impl Seen {
    fn now(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }
}

/// Sleeps as long as the latency window says, if one is open.
async fn delay(mode: &watch::Receiver<Mode>) {
    let Mode { delay, jitter, .. } = *mode.borrow();
    if !delay.is_zero() || !jitter.is_zero() {
        // Uniform in [delay - jitter, delay + jitter].
        let offset = jitter.mul_f64(fastrand::f64());
        let pause = if fastrand::bool() {
            delay + offset
        } else {
            delay.saturating_sub(offset)
        };
        tokio::time::sleep(pause).await;
    }
}

/// Client to server, noting what each command does before it leaves. A
/// stream that is not RESP is passed on unwatched.
async fn commands(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mode: watch::Receiver<Mode>,
    tap: &Tap,
    pending: &Pending,
    seen: &Seen,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut unread: Vec<u8> = Vec::new();
    let mut blind = false;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen.now();
        blind |= pending.lock().expect("not poisoned").blind;
        if !blind {
            unread.extend_from_slice(&buf[..n]);
            let mut at = 0;
            loop {
                match parse_command(&unread[at..]) {
                    Ok(Some((len, args))) => {
                        let kind = tap.classify(&args);
                        pending.lock().expect("not poisoned").kinds.push_back(kind);
                        at += len;
                    }
                    Ok(None) => break,
                    Err(()) => {
                        blind = true;
                        pending.lock().expect("not poisoned").blind = true;
                        break;
                    }
                }
            }
            unread.drain(..at);
        }
        delay(&mode).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Server to client, one whole reply at a time: the reply to a caught
/// critical section waits until the coordinator lets it go.
async fn replies(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mode: watch::Receiver<Mode>,
    tap: &Tap,
    pending: &Pending,
    seen: &Seen,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut unsent: Vec<u8> = Vec::new();
    let mut blind = false;
    let mut hold = Hold::default();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen.now();
        unsent.extend_from_slice(&buf[..n]);
        // The commands' side lost track: their replies cannot be matched.
        blind |= pending.lock().expect("not poisoned").blind;
        let mut framed = 0;
        let mut sent = 0;
        while !blind {
            let len = match frame_len(&unsent[framed..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    blind = true;
                    let mut queue = pending.lock().expect("not poisoned");
                    queue.blind = true;
                    queue.kinds.clear();
                    break;
                }
            };
            let frame = &unsent[framed..framed + len];
            // A push (RESP3) answers no command.
            let kind = match frame.first() {
                Some(b'>') => Kind::Other,
                _ => pending
                    .lock()
                    .expect("not poisoned")
                    .kinds
                    .pop_front()
                    .unwrap_or(Kind::Other),
            };
            if let Some(release) = tap.on_reply(&mut hold, kind, frame) {
                delay(&mode).await;
                if to.write_all(&unsent[sent..framed]).await.is_err() {
                    return;
                }
                sent = framed;
                let _ = release.await;
            }
            framed += len;
        }
        let upto = if blind { unsent.len() } else { framed };
        delay(&mode).await;
        if to.write_all(&unsent[sent..upto]).await.is_err() {
            return;
        }
        unsent.drain(..upto);
    }
}

async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mode: watch::Receiver<Mode>,
    seen: &Seen,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen.now();
        delay(&mode).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
