//! Processes the load runs and restarts, as systemd's `Restart=always`
//! would: `intake serve` and the workers. A fault kills one with SIGKILL;
//! the supervisor starts it again after `RESTART_DELAY`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// systemd's default `RestartSec` is 100 ms; a second keeps a crash loop
/// from eating the machine.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);

/// One supervised process: its command line and its current child.
#[derive(Clone)]
pub struct Supervised {
    pub name: String,
    env: Vec<(String, String)>,
    argv: Vec<String>,
    log: std::path::PathBuf,
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<tokio::sync::Notify>,
}

impl Supervised {
    /// Starts `command` (whitespace-separated words, leading `VAR=value`
    /// words set in its environment, as env(1) takes them), its output
    /// appended to `log`, and keeps it running.
    pub fn start(
        name: &str,
        command: &str,
        log: std::path::PathBuf,
    ) -> std::io::Result<Supervised> {
        let mut words = command.split_whitespace().peekable();
        let mut env = Vec::new();
        while let Some((k, v)) = words.peek().and_then(|w| w.split_once('=')) {
            env.push((k.to_owned(), v.to_owned()));
            words.next();
        }
        let argv: Vec<String> = words.map(str::to_owned).collect();
        if argv.is_empty() {
            return Err(std::io::Error::other(format!("{name}: empty command")));
        }
        let s = Supervised {
            name: name.to_owned(),
            env,
            argv,
            log,
            child: Arc::new(Mutex::new(None)),
            stop: Arc::new(tokio::sync::Notify::new()),
        };
        let me = s.clone();
        tokio::spawn(async move { me.keep().await });
        Ok(s)
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let err = out.try_clone()?;
        Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
    }

    async fn keep(&self) {
        loop {
            match self.spawn() {
                Ok(c) => {
                    tracing::info!(process = %self.name, pid = ?c.id(), "started");
                    *self.child.lock().await = Some(c);
                }
                Err(e) => tracing::error!(process = %self.name, error = %e, "cannot start"),
            }
            // Wait for it to end (or for stop), polling the child under the lock.
            loop {
                tokio::select! {
                    _ = self.stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                let mut g = self.child.lock().await;
                let ended = match g.as_mut() {
                    Some(c) => !matches!(c.try_wait(), Ok(None)),
                    None => true,
                };
                if ended {
                    *g = None;
                    break;
                }
            }
            tracing::warn!(process = %self.name, "ended; starting it again");
            tokio::select! {
                _ = self.stop.notified() => return,
                _ = tokio::time::sleep(RESTART_DELAY) => {}
            }
        }
    }

    /// SIGKILL, no warning. Returns the pid killed. The slot is emptied,
    /// so [`Supervised::running`] says no until the supervisor has started
    /// the process again.
    pub async fn kill9(&self) -> Option<u32> {
        let mut g = self.child.lock().await;
        let mut c = g.take()?;
        let pid = c.id();
        let _ = c.start_kill();
        let _ = c.wait().await;
        pid
    }

    /// Whether a child is running now.
    pub async fn running(&self) -> bool {
        self.child.lock().await.is_some()
    }

    /// SIGTERM, then waits for it to finish what it has in hand.
    pub async fn stop(&self) {
        self.stop.notify_waiters();
        self.stop.notify_one();
        let mut g = self.child.lock().await;
        if let Some(c) = g.as_mut() {
            if let Some(pid) = c.id() {
                // SAFETY: kill(2) on our own child's pid.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
            if tokio::time::timeout(Duration::from_secs(30), c.wait())
                .await
                .is_err()
            {
                let _ = c.start_kill();
            }
        }
        *g = None;
    }
}
