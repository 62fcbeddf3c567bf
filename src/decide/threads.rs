//! The threads decisions run on. They are niced (10): when the CPUs are
//! busy, receiving — a customer's MTA waiting for its `250`, a portal upload
//! in flight — goes first, and decisions catch up in the gaps. Rayon's pool,
//! which reads a wrapper's entries in parallel, is niced the same way.

use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than receiving deciding runs.
const NICE: i32 = 10;

/// The pool went away (a decider thread panicked while holding the queue).
#[derive(Debug, thiserror::Error)]
#[error("the decision threads are gone")]
pub struct Gone;

static POOL: LazyLock<Option<mpsc::Sender<Job>>> = LazyLock::new(start);

fn lower_priority() {
    // On Linux, PRIO_PROCESS with 0 names the calling thread, not the process.
    // Best effort: where it is refused, deciding simply competes as before.
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
    }
}

/// How many decisions run at once: two per core, because a decision also
/// waits on the disk while it keeps samples (each flushed before recording),
/// and the second keeps the core busy meanwhile. Callers that queue work for
/// these threads bound what they run by the same figure.
pub fn count() -> usize {
    2 * cores()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn start() -> Option<mpsc::Sender<Job>> {
    let threads = count();
    // Reading a wrapper's entries in parallel is CPU work only.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(cores())
        .start_handler(|_| lower_priority())
        .build_global();
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for i in 0..threads {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decide-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        started += usize::from(spawned.is_ok());
    }
    (started > 0).then_some(tx)
}

/// Runs `f` on a decision thread and waits for its result.
pub async fn run<F, R>(f: F) -> Result<R, Gone>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    POOL.as_ref().ok_or(Gone)?.send(job).map_err(|_| Gone)?;
    rx.await.map_err(|_| Gone)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_work_and_returns_its_result() {
        let r = super::run(|| (1..=10).sum::<u32>()).await.expect("ran");
        assert_eq!(r, 55);
        let many: Vec<_> = (0..32u32).map(|i| super::run(move || i * 2)).collect();
        let mut out = Vec::new();
        for m in many {
            out.push(m.await.expect("ran"));
        }
        assert_eq!(out, (0..32).map(|i| i * 2).collect::<Vec<_>>());
    }
}
