//! How a long-running loop waits after it lost the broker, the database or
//! the mail relay: the wait doubles from a short first one up to a cap, with
//! jitter so a fleet of workers does not knock on a restarted broker in step,
//! and it starts short again once a connection has worked.
//!
//! Without that reset, one early outage left every later reconnect waiting
//! the cap (then 10 s for the relay, 15 s for the workers), however long
//! the connection had worked in between.

use std::time::Duration;

/// The back-off of one reconnecting loop.
#[derive(Debug, Clone)]
pub struct Retry {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Retry {
    /// Waits `first` after the first failure, doubling to at most `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Retry {
        Retry {
            first,
            cap,
            next: first,
        }
    }

    /// The wait after one more failure in a row: between half and all of
    /// the current step, which then doubles.
    pub fn failed(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.cap);
        jittered(step, random_fraction())
    }

    /// The connection worked: the next failure waits `first` again.
    pub fn connected(&mut self) {
        self.next = self.first;
    }
}

/// `step` scaled into `[step / 2, step]` by `fraction` in `[0, 1]`.
fn jittered(step: Duration, fraction: f64) -> Duration {
    step.mul_f64(0.5 + 0.5 * fraction.clamp(0.0, 1.0))
}

/// Uniform in `[0, 1]`; 1 (no jitter) when the system has no randomness to
/// give, which only makes the wait the plain doubling one.
fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn waits_double_up_to_the_cap_within_their_jitter() {
        let mut r = Retry::new(MS(200), MS(2000));
        for step in [200, 400, 800, 1600, 2000, 2000] {
            let w = r.failed();
            assert!(w >= MS(step / 2) && w <= MS(step), "{w:?} for step {step}");
        }
    }

    #[test]
    fn a_connection_that_worked_makes_the_next_wait_short_again() {
        let mut r = Retry::new(MS(200), MS(2000));
        for _ in 0..10 {
            r.failed();
        }
        r.connected();
        assert!(r.failed() <= MS(200));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_step() {
        assert_eq!(jittered(MS(1000), 0.0), MS(500));
        assert_eq!(jittered(MS(1000), 1.0), MS(1000));
        assert_eq!(jittered(MS(1000), 7.0), MS(1000));
    }
}
