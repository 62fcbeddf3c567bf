//! Upload quotas per grant: so many uploads and bytes per hour and per day.
//! Pure: the store counts what a grant used in each window; [`admit`] says
//! whether one more upload fits and, when not, from when it will.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

pub use crate::store::uploads::{Usage, Used};

/// The limits; `0` means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    pub uploads_per_hour: u32,
    pub uploads_per_day: u32,
    pub bytes_per_hour: u64,
    pub bytes_per_day: u64,
}

impl Default for Quota {
    /// Generous for one company's support staff, tight enough that a
    /// runaway script cannot fill the lab's disk in a day.
    fn default() -> Self {
        Quota {
            uploads_per_hour: 100,
            uploads_per_day: 500,
            bytes_per_hour: 2 << 30,
            bytes_per_day: 10 << 30,
        }
    }
}

/// Which limit an upload would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    UploadsPerHour,
    UploadsPerDay,
    BytesPerHour,
    BytesPerDay,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::UploadsPerHour => "uploads_per_hour",
            Limit::UploadsPerDay => "uploads_per_day",
            Limit::BytesPerHour => "bytes_per_hour",
            Limit::BytesPerDay => "bytes_per_day",
        }
    }
}

/// An upload refused by the quota: which limit, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub limit: Limit,
    pub until: DateTime<Utc>,
}

impl Over {
    /// Whole seconds from `now` until the retry, at least one.
    pub fn retry_after(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from((self.until - now).num_seconds())
            .unwrap_or(0)
            .max(1)
    }
}

/// Whether one more upload of `incoming` bytes (as announced; `0` when not
/// known before reading) fits under `q` given `u`. When not, the upload may
/// come back once the window's oldest upload has left it — the earliest
/// moment anything changes.
pub fn admit(q: &Quota, u: &Usage, incoming: u64, now: DateTime<Utc>) -> Result<(), Over> {
    let windows = [
        (
            Limit::UploadsPerHour,
            &u.hour,
            TimeDelta::hours(1),
            q.uploads_per_hour > 0 && u.hour.uploads >= q.uploads_per_hour,
        ),
        (
            Limit::UploadsPerDay,
            &u.day,
            TimeDelta::days(1),
            q.uploads_per_day > 0 && u.day.uploads >= q.uploads_per_day,
        ),
        (
            Limit::BytesPerHour,
            &u.hour,
            TimeDelta::hours(1),
            q.bytes_per_hour > 0 && u.hour.bytes.saturating_add(incoming) > q.bytes_per_hour,
        ),
        (
            Limit::BytesPerDay,
            &u.day,
            TimeDelta::days(1),
            q.bytes_per_day > 0 && u.day.bytes.saturating_add(incoming) > q.bytes_per_day,
        ),
    ];
    // The latest of the passed limits' reopening times: before it, one of
    // them still refuses.
    windows
        .into_iter()
        .filter(|w| w.3)
        .map(|(limit, used, length, _)| Over {
            limit,
            until: used.oldest.map_or(now + length, |t| t + length).max(now),
        })
        .max_by_key(|o| o.until)
        .map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixture::at;

    const Q: Quota = Quota {
        uploads_per_hour: 2,
        uploads_per_day: 3,
        bytes_per_hour: 1000,
        bytes_per_day: 0,
    };

    #[test]
    fn under_every_limit_is_admitted() {
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(admit(&Q, &Usage::default(), 1000, now), Ok(()));
        let u = Usage {
            hour: Used {
                uploads: 1,
                bytes: 400,
                oldest: Some(at("2026-12-02T09:30:00Z")),
            },
            day: Used {
                uploads: 2,
                bytes: 900,
                oldest: Some(at("2026-12-01T12:00:00Z")),
            },
        };
        assert_eq!(admit(&Q, &u, 600, now), Ok(()));
        // Unlimited bytes per day: 0 is no limit.
        assert_eq!(admit(&Q, &u, 600, now), Ok(()));
    }

    #[test]
    fn over_a_limit_says_which_and_until_the_oldest_leaves_the_window() {
        let now = at("2026-12-02T10:00:00Z");
        let u = Usage {
            hour: Used {
                uploads: 2,
                bytes: 100,
                oldest: Some(at("2026-12-02T09:20:00Z")),
            },
            day: Used {
                uploads: 2,
                bytes: 100,
                oldest: Some(at("2026-12-02T01:00:00Z")),
            },
        };
        let over = admit(&Q, &u, 0, now).expect_err("two an hour");
        assert_eq!(over.limit, Limit::UploadsPerHour);
        assert_eq!(over.until, at("2026-12-02T10:20:00Z"));
        assert_eq!(over.retry_after(now), 1200);
        // Bytes announced beyond the hour's limit.
        let u1 = Usage {
            hour: Used {
                uploads: 1,
                ..u.hour
            },
            ..u
        };
        let over = admit(&Q, &u1, 901, now).expect_err("bytes");
        assert_eq!(over.limit, Limit::BytesPerHour);
        // Several limits passed: the latest reopening wins.
        let u3 = Usage {
            day: Used {
                uploads: 3,
                ..u.day
            },
            ..u
        };
        let over = admit(&Q, &u3, 0, now).expect_err("both");
        assert_eq!(over.limit, Limit::UploadsPerDay);
        assert_eq!(over.until, at("2026-12-03T01:00:00Z"));
    }

    #[test]
    fn retry_after_is_never_zero() {
        let now = at("2026-12-02T10:00:00Z");
        let o = Over {
            limit: Limit::UploadsPerHour,
            until: now,
        };
        assert_eq!(o.retry_after(now), 1);
    }
}
