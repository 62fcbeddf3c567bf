//! Faults injected while the load runs: when (a schedule from the seed,
//! pure) and how (the shell: signals, `rabbitmqctl`, `pg_ctlcluster`, the
//! proxy, a ballast file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::inputs::Rng;
use super::ledger::{Fault, FaultKind};
use super::proxy::Proxy;
use super::supervise::Supervised;

/// When each fault starts, counted from the run's start.
pub fn schedule(
    kinds: &[FaultKind],
    each: u32,
    window: Duration,
    seed: u64,
) -> Vec<(Duration, FaultKind)> {
    // Spread faults over the middle of the run (10 % to 80 %), each in its
    // own slot at a random place in it, so two never overlap and the end of
    // the run shows the recovery.
    let total = kinds.len() as u64 * u64::from(each);
    if total == 0 {
        return Vec::new();
    }
    let span = window.as_millis() as u64 * 7 / 10;
    let slot = span / total;
    let mut rng = Rng::new(seed ^ 0xfa17);
    let mut order: Vec<FaultKind> = (0..each).flat_map(|_| kinds.iter().copied()).collect();
    // Fisher-Yates: the kinds come in a random order.
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let start = window.as_millis() as u64 / 10 + i as u64 * slot + rng.below(slot / 2 + 1);
            (Duration::from_millis(start), k)
        })
        .collect()
}

/// What the faults act on.
pub struct Targets {
    /// The serves and workers the run supervises; each kill takes the next.
    pub serve: Vec<Supervised>,
    pub worker: Vec<Supervised>,
    pub proxy: Option<Proxy>,
    /// A folder on the blob store's own small file system.
    pub blob_dir: Option<PathBuf>,
    /// How long a fault that is undone by hand lasts.
    pub hold: Duration,
    /// The command that restarts PostgreSQL.
    pub database_restart: String,
}

/// Whether `kind` can be injected with these targets (and why not).
pub fn available(t: &Targets, kind: FaultKind) -> Result<(), String> {
    let have = |ok: bool, why: &str| if ok { Ok(()) } else { Err(why.to_owned()) };
    match kind {
        FaultKind::KillServe => have(
            !t.serve.is_empty(),
            "needs --serve (the load runs intake serve)",
        ),
        FaultKind::KillWorker => have(
            !t.worker.is_empty(),
            "needs --worker (the load runs a worker)",
        ),
        FaultKind::Cut => have(
            t.proxy.is_some(),
            "needs --broker-proxy (intake's AMQP URL through the load's proxy)",
        ),
        FaultKind::BlobFull => have(
            t.blob_dir.is_some(),
            "needs --blob-fs (the blob folder's own small file system)",
        ),
        FaultKind::Broker | FaultKind::Database => Ok(()),
    }
}

/// Injects the `nth` fault of `kind` and undoes it; returns the ledger's line.
pub async fn inject(t: &Targets, kind: FaultKind, nth: usize) -> Fault {
    let at = Utc::now();
    let one = |v: &[Supervised]| v.get(nth % v.len().max(1)).cloned();
    let note = match kind {
        FaultKind::KillServe => kill(one(&t.serve).as_ref()).await,
        FaultKind::KillWorker => kill(one(&t.worker).as_ref()).await,
        FaultKind::Broker => {
            let stop = run("rabbitmqctl stop_app").await;
            tokio::time::sleep(t.hold).await;
            let start = run("rabbitmqctl start_app").await;
            format!("stop_app: {stop}; start_app: {start}")
        }
        FaultKind::Database => run(&t.database_restart).await,
        FaultKind::Cut => match &t.proxy {
            Some(p) => {
                p.cut_for(t.hold).await;
                format!("cut for {} s", t.hold.as_secs())
            }
            None => "no proxy".to_owned(),
        },
        FaultKind::BlobFull => match &t.blob_dir {
            Some(d) => fill(d, t.hold).await,
            None => "no blob folder".to_owned(),
        },
    };
    Fault {
        kind,
        at,
        until: Utc::now(),
        note,
    }
}

async fn kill(p: Option<&Supervised>) -> String {
    let Some(p) = p else {
        return "not running".to_owned();
    };
    let pid = p.kill9().await;
    // Back once the supervisor has started it again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !p.running().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    format!(
        "SIGKILL to {} (pid {})",
        p.name,
        pid.map_or("?".into(), |p| p.to_string())
    )
}

async fn run(command: &str) -> String {
    let argv: Vec<&str> = command.split_whitespace().collect();
    let Some((cmd, args)) = argv.split_first() else {
        return "empty command".to_owned();
    };
    match tokio::process::Command::new(cmd).args(args).output().await {
        Ok(o) if o.status.success() => format!("`{command}` ok"),
        Ok(o) => format!(
            "`{command}` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("`{command}`: {e}"),
    }
}

/// Fills the file system holding `dir` with a ballast file for `hold`:
/// the free space is allocated at once (`fallocate`, so a big disk fills
/// as fast as a small one), then the last blocks are written.
async fn fill(dir: &Path, hold: Duration) -> String {
    let ballast = dir.join(".load-ballast");
    let path = ballast.clone();
    let written = tokio::task::spawn_blocking(move || {
        use std::io::{Seek, Write};
        use std::os::fd::AsRawFd;
        let mut f = std::fs::File::create(&path)?;
        let mut allocated = 0u64;
        // SAFETY: statvfs(3) and fallocate(2) on a path and a file we own,
        // with a zeroed struct of the right type.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(std::io::Error::other)?;
            if libc::statvfs(c.as_ptr(), &mut st) == 0 {
                // Free blocks, the root-reserved ones included: the load
                // runs as root when it may fill a mount, and so does serve.
                let free = st.f_bfree as u64 * st.f_frsize as u64;
                // All of the free space is more than a file can be given:
                // its extent tree needs blocks too. Ask for a little less
                // each time until the file system agrees.
                for want in allocation_tries(free) {
                    if libc::fallocate(f.as_raw_fd(), 0, 0, want as libc::off_t) == 0 {
                        allocated = want;
                        break;
                    }
                }
            }
        }
        // Then whatever the allocation left, written past its end: a few
        // MiB, not gigabytes of dirty pages whose writeback would stall
        // every fsync after the fault.
        f.seek(std::io::SeekFrom::End(0))?;
        let chunk = vec![0u8; 64 << 10];
        let mut written = 0u64;
        while let Ok(w) = f.write(&chunk) {
            if w == 0 {
                break;
            }
            written += w as u64;
        }
        Ok::<(u64, u64), std::io::Error>((allocated, written))
    })
    .await;
    tokio::time::sleep(hold).await;
    let _ = std::fs::remove_file(&ballast);
    match written {
        Ok(Ok((a, w))) => format!(
            "{} MiB allocated and {} MiB written as ballast, for {} s",
            a >> 20,
            w >> 20,
            hold.as_secs()
        ),
        Ok(Err(e)) => format!("ballast: {e}"),
        Err(e) => format!("ballast: {e}"),
    }
}

/// The sizes to ask `fallocate` for when `free` bytes are free: all of
/// it, then 1/1024 less at a time, at most 256 tries (down to 75 %).
pub(super) fn allocation_tries(free: u64) -> impl Iterator<Item = u64> {
    let step = (free / 1024).max(1);
    (0..256u64)
        .map(move |i| free.saturating_sub(i * step))
        .filter(|&n| n > 0)
}
