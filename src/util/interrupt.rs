//! Ctrl-C / SIGTERM / SIGHUP as a value passed into the run (no global flag): any
//! number of holders can wait for it, and one that starts waiting after the
//! signal came returns at once.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Interrupt {
    /// How many signals came.
    fired: watch::Receiver<u32>,
}

impl Interrupt {
    /// Installs the handlers now, not at the first wait, so a signal during
    /// setup is not lost. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When the signal handlers cannot be installed.
    pub fn install() -> std::io::Result<Interrupt> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        // A closed terminal or SSH session: stop and report, as for SIGTERM.
        let mut hangup = signal(SignalKind::hangup())?;
        let (tx, fired) = watch::channel(0);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                    _ = hangup.recv() => {}
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Interrupt { fired })
    }

    /// Resolves once the signal came.
    pub async fn wait(&mut self) {
        self.wait_for(1).await;
    }

    /// Resolves once `n` signals came: a second Ctrl-C stops at once.
    pub async fn wait_for(&mut self, n: u32) {
        if self.fired.wait_for(|fired| *fired >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
