//! A small TCP proxy between the workers and Redis, started only when a
//! scenario has `latency` or `disconnect` faults: it can delay every chunk
//! for a window, or drop every connection at once. The coordinator's own
//! control connection goes around it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(upstream: String) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("starting the fault proxy")?;
        let port = listener.local_addr()?.port();
        let (mode, watcher) = watch::channel(Mode::default());
        let open = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept(listener, upstream, watcher, open.clone()));
        Ok(Proxy {
            port,
            mode,
            open,
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
) {
    while let Ok((client, _)) = listener.accept().await {
        let upstream = upstream.clone();
        let mode = mode.clone();
        let open = open.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&upstream).await {
                open.fetch_add(1, Ordering::SeqCst);
                forward(client, server, mode).await;
                open.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
}

/// Copies both ways until either side closes or a disconnect is ordered.
async fn forward(client: TcpStream, server: TcpStream, mut mode: watch::Receiver<Mode>) {
    let generation = mode.borrow().generation;
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let (m1, m2) = (mode.clone(), mode.clone());
    tokio::select! {
        () = copy(&mut client_rx, &mut server_tx, m1) => {}
        () = copy(&mut server_rx, &mut client_tx, m2) => {}
        () = async { while mode.changed().await.is_ok() && mode.borrow().generation == generation {} } => {}
    }
}

async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
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
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
