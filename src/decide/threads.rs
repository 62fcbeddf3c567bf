//! The threads decisions run on. They are niced (10): when the CPUs are
//! busy, receiving — a customer's MTA waiting for its `250`, a portal upload
//! in flight — goes first, and decisions catch up in the gaps. Rayon's pool,
//! which reads a wrapper's entries in parallel, is niced the same way.
//!
//! A decision that panics (a parser bug met by hostile bytes) is caught here
//! and returned as [`Failed::Panicked`]: the thread lives on, and the caller
//! records the failure against its input instead of losing a thread for good.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than receiving deciding runs.
const NICE: i32 = 10;

/// A decision did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// No decision thread is left to run it.
    #[error("the decision threads are gone")]
    Gone,
    /// The decision panicked; the thread survived.
    #[error("deciding panicked: {0}")]
    Panicked(String),
}

/// Decision threads running now (they only leave when the pool is dropped,
/// which `/readyz` would report).
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether a decision can run at all: at least one decision thread is alive.
pub fn available() -> bool {
    LazyLock::force(&POOL).is_some() && ALIVE.load(Ordering::SeqCst) > 0
}

/// Counts a decision thread as alive for as long as it runs.
struct Alive;

impl Alive {
    fn new() -> Self {
        ALIVE.fetch_add(1, Ordering::SeqCst);
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

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
                let _alive = Alive::new();
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

/// Runs `f` on a decision thread and waits for its result. A panic in `f`
/// comes back as [`Failed::Panicked`] with its message.
pub async fn run<F, R>(f: F) -> Result<R, Failed>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let out = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()));
        let _ = tx.send(out);
    });
    POOL.as_ref()
        .ok_or(Failed::Gone)?
        .send(job)
        .map_err(|_| Failed::Gone)?;
    rx.await
        .map_err(|_| Failed::Gone)?
        .map_err(Failed::Panicked)
}

/// The text a panic carried (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
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

    /// A panicking decision is returned as a failure, and every thread is
    /// still there for the next decisions: more panics than threads leave
    /// the pool whole.
    #[tokio::test]
    async fn a_panic_is_a_failure_and_the_threads_survive() {
        for i in 0..(super::count() * 2 + 1) {
            let r = super::run(move || -> u32 { panic!("injected panic {i}") }).await;
            match r {
                Err(super::Failed::Panicked(m)) => assert_eq!(m, format!("injected panic {i}")),
                other => panic!("expected a panic failure, got {other:?}"),
            }
        }
        assert!(super::available());
        assert_eq!(super::run(|| 7).await.expect("still runs"), 7);
    }
}
