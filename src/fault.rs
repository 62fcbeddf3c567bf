//! Fault hooks for tests: a way to make a decision panic on purpose, so the
//! tests of what a panic must not break (the decision threads, the input's
//! record) need no real crash input. Compiled into debug builds only: a
//! release build has no hook at all.
//!
//! An input whose raw bytes contain an armed marker panics on its decision
//! thread. A sample containing the marker of `INTAKE_FAULT_ANALYSE_ABORT`
//! aborts the worker analysing it, as a crashing parser would. Markers come from `INTAKE_FAULT_DECIDE_PANIC` (for a spawned
//! `intake serve`) or [`arm_decide_panic`] (in-process tests, each with its
//! own marker, so tests running side by side do not trip each other).

#[cfg(debug_assertions)]
mod armed {
    use std::sync::{LazyLock, RwLock};

    pub static MARKERS: LazyLock<RwLock<Vec<Vec<u8>>>> = LazyLock::new(|| {
        RwLock::new(
            std::env::var("INTAKE_FAULT_DECIDE_PANIC")
                .ok()
                .filter(|m| !m.is_empty())
                .map(|m| vec![m.into_bytes()])
                .unwrap_or_default(),
        )
    });
}

/// Makes every later decision of an input containing `marker` panic.
#[cfg(debug_assertions)]
pub fn arm_decide_panic(marker: &str) {
    if let Ok(mut m) = armed::MARKERS.write() {
        m.push(marker.as_bytes().to_vec());
    }
}

/// Called on the decision thread before deciding `raw`.
pub fn before_deciding(raw: &[u8]) {
    #[cfg(debug_assertions)]
    if let Ok(markers) = armed::MARKERS.read()
        && markers
            .iter()
            .any(|m| memchr::memmem::find(raw, m).is_some())
    {
        panic!("injected fault: a decision panicked");
    }
    #[cfg(not(debug_assertions))]
    let _ = raw;
}

/// Called on a worker before analysing `bytes`.
pub fn before_analysing(bytes: &[u8]) {
    #[cfg(debug_assertions)]
    if let Some(marker) = std::env::var_os("INTAKE_FAULT_ANALYSE_ABORT")
        && !marker.is_empty()
        && memchr::memmem::find(bytes, marker.as_encoded_bytes()).is_some()
    {
        eprintln!("injected fault: the analysis aborts the worker");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = bytes;
}
