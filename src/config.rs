//! Configuration: a TOML file (optional) overlaid with `INTAKE_*` environment
//! variables, with defaults that work on a machine where PostgreSQL and
//! RabbitMQ run locally with their stock credentials.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::answer::AnswerConfig;
use crate::decide::unpack::Limits;
use crate::portal::UploadConfig;
use crate::smtp::SmtpConfig;
pub use crate::store::blob::BlobConfig;
use crate::store::blob::{Blobs, Keyring};

/// Everything `intake serve`, `intake demo` and the workers need.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL; the database is created if it does not exist.
    pub database_url: String,
    /// Connections `intake serve` keeps to it: every SMTP session storing a
    /// message holds one for its insert, besides deciding, the relay and
    /// the mailer.
    pub database_connections: u32,
    /// RabbitMQ.
    pub amqp_url: String,
    /// Prefix of every exchange and queue, so deployments (and tests) can
    /// share a broker.
    pub queue_prefix: String,
    /// HTTP listener for health, readiness and metrics.
    pub listen: String,
    /// The vendor's name in the "<vendor> Product Name" label.
    pub vendor: String,
    /// How customers reach the portal, for the links it mails; cookies are
    /// `Secure` when it is `https://` (put a TLS proxy in front).
    pub public_url: String,
    /// A certificate chain and key (PEM) to serve HTTPS on `listen`
    /// directly; without them, put a TLS proxy in front.
    pub http_tls_cert: Option<PathBuf>,
    pub http_tls_key: Option<PathBuf>,
    /// Reverse proxies (TLS terminators) whose `X-Forwarded-For` names the
    /// client; without them every customer would share the proxy's address
    /// for the sign-in back-off.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where blobs (raw inputs, samples, quarantine) are kept.
    pub blobs: BlobConfig,
    /// The key blobs are neutered with, `id:64 hex digits`; empty: the
    /// built-in key. Keys once used must stay readable: the built-in one
    /// always is.
    pub blob_key: Option<String>,
    /// The secret reply tokens are made with; empty: the one the migrations
    /// made for this database (every process of one lab must agree).
    pub reply_secret: Option<String>,
    pub limits: Limits,
    /// Portal uploads: size limits and the quota per grant.
    pub uploads: UploadConfig,
    /// When one file sent by many companies becomes an outbreak of its own
    /// queue (`[outbreak] companies`, `within_hours`).
    pub outbreak: crate::triage::outbreak::Threshold,
    /// Delay before a failed analysis job is retried, in milliseconds.
    pub retry_delay_ms: u32,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// Starts of one job before it is dead-lettered as one that kills or
    /// stalls its worker; well above `max_attempts`, so an operator's kill
    /// mid-job condemns nothing.
    pub max_starts: u32,
    /// Jobs a worker holds unacknowledged at once.
    pub prefetch: u16,
    /// Days a sent outbox row is kept before `intake serve` prunes it.
    pub outbox_retention_days: u32,
    /// How long the samples queue may go without a consumer (workers down,
    /// a worker's mistyped prefix) before `/readyz` says so, in seconds.
    pub consumer_grace_secs: u64,
    /// How often `intake serve` runs the SRs' clocks (escalations), in
    /// seconds.
    pub clock_interval_secs: u64,
    /// The SMTP and LMTP listeners.
    pub smtp: SmtpConfig,
    /// Answers to customers.
    pub answers: AnswerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // No TLS to a database on this host: the bytes never leave it, and
            // encrypting them cost PostgreSQL a tenth of its CPU while
            // recording. Remote databases set `sslmode=verify-full` in the URL.
            database_url: "postgres://postgres@127.0.0.1:5432/intake?sslmode=disable".to_owned(),
            database_connections: 32,
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            queue_prefix: "intake".to_owned(),
            listen: "127.0.0.1:8080".to_owned(),
            vendor: "McAfee".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            http_tls_cert: None,
            http_tls_key: None,
            trusted_proxies: Vec::new(),
            blobs: BlobConfig::Local {
                dir: PathBuf::from("var/blobs"),
            },
            blob_key: None,
            reply_secret: None,
            limits: Limits::default(),
            uploads: UploadConfig::default(),
            outbreak: Default::default(),
            retry_delay_ms: 30_000,
            max_attempts: 5,
            max_starts: 10,
            prefetch: 8,
            outbox_retention_days: 7,
            consumer_grace_secs: 300,
            clock_interval_secs: 30,
            smtp: SmtpConfig::default(),
            answers: AnswerConfig::default(),
        }
    }
}

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{name}: {why}")]
    Env { name: &'static str, why: String },
}

impl Config {
    /// The decision's policy: the limits and the template's labels. `intake
    /// check` and the live pipeline take it from here, so both decide alike.
    pub fn policy(&self) -> crate::decide::Policy {
        crate::decide::Policy {
            limits: self.limits,
            labels: crate::decide::metadata::Labels::new(&self.vendor),
        }
    }

    /// The blob store and neutering key the configuration names. `runtime`
    /// drives the S3 client.
    pub fn blobs(&self, runtime: tokio::runtime::Handle) -> std::io::Result<Blobs> {
        let keys = Keyring::new(self.blob_key.as_deref())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Blobs::open(&self.blobs, keys, runtime)
    }

    /// Reads `path` if given, then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.to_owned(),
                    source,
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.answers.vendor = cfg.vendor.clone();
        Ok(cfg)
    }

    /// Overlays `INTAKE_*` variables; `get` is the environment (a parameter
    /// so tests need not touch the process's).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("INTAKE_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("INTAKE_DATABASE_CONNECTIONS") {
            self.database_connections = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_DATABASE_CONNECTIONS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_AMQP_URL") {
            self.amqp_url = v;
        }
        if let Some(v) = get("INTAKE_QUEUE_PREFIX") {
            self.queue_prefix = v;
        }
        if let Some(v) = get("INTAKE_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("INTAKE_VENDOR") {
            self.vendor = v;
        }
        if let Some(v) = get("INTAKE_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = get("INTAKE_HTTP_TLS_CERT") {
            self.http_tls_cert = Some(v.into());
        }
        if let Some(v) = get("INTAKE_HTTP_TLS_KEY") {
            self.http_tls_key = Some(v.into());
        }
        if let Some(v) = get("INTAKE_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.parse().map_err(|e| ConfigError::Env {
                        name: "INTAKE_TRUSTED_PROXIES",
                        why: format!("{a:?}: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("INTAKE_BLOB_DIR") {
            self.blobs = BlobConfig::Local { dir: v.into() };
        }
        if let Some(v) = get("INTAKE_BLOB_KEY") {
            self.blob_key = Some(v);
        }
        if let Some(v) = get("INTAKE_REPLY_SECRET") {
            self.reply_secret = Some(v);
        }
        if let Some(v) = get("INTAKE_RETRY_DELAY_MS") {
            self.retry_delay_ms = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_RETRY_DELAY_MS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_SMTP_LISTEN") {
            self.smtp.smtp_listen = v;
        }
        if let Some(v) = get("INTAKE_LMTP_LISTEN") {
            self.smtp.lmtp_listen = v;
        }
        if let Some(v) = get("INTAKE_TRUSTED_AUTHSERV_IDS") {
            self.smtp.trusted_authserv_ids = v
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
        }
        if let Some(v) = get("INTAKE_SMTP_TLS_CERT") {
            self.smtp.tls_cert = Some(v.into());
        }
        if let Some(v) = get("INTAKE_SMTP_TLS_KEY") {
            self.smtp.tls_key = Some(v.into());
        }
        if let Some(v) = get("INTAKE_SMTP_ACCEPT") {
            self.smtp.accept = v.split(',').map(|a| a.trim().to_owned()).collect();
        }
        if let Some(v) = get("INTAKE_SMTP_MAX_SIZE") {
            self.smtp.max_message_size = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_SMTP_MAX_SIZE",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_ANSWER_RELAY") {
            self.answers.relay = v;
        }
        if let Some(v) = get("INTAKE_ANSWER_FROM") {
            self.answers.from = v;
        }
        if let Some(v) = get("INTAKE_ANSWER_SENDERS") {
            self.answers.senders = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_ANSWER_SENDERS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_CONSUMER_GRACE_SECS") {
            self.consumer_grace_secs = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_CONSUMER_GRACE_SECS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_MAX_STARTS") {
            self.max_starts = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_MAX_STARTS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_OUTBOX_RETENTION_DAYS") {
            self.outbox_retention_days = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_OUTBOX_RETENTION_DAYS",
                why: format!("{e}"),
            })?;
        }
        if let Some(v) = get("INTAKE_PREFETCH") {
            self.prefetch = v.parse().map_err(|e| ConfigError::Env {
                name: "INTAKE_PREFETCH",
                why: format!("{e}"),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_environment() {
        let mut cfg: Config = toml::from_str(
            "queue_prefix = \"lab\"\n[blobs]\nkind = \"s3\"\nbucket = \"samples\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n[limits]\nmax_depth = 2\n",
        )
        .expect("parses");
        assert_eq!(cfg.queue_prefix, "lab");
        assert_eq!(cfg.limits.max_depth, 2);
        assert_eq!(cfg.limits.max_entries, 10_000);
        assert!(matches!(cfg.blobs, BlobConfig::S3 { .. }));
        cfg.apply_env(|k| match k {
            "INTAKE_BLOB_DIR" => Some("/tmp/b".into()),
            "INTAKE_AMQP_URL" => Some("amqp://x".into()),
            _ => None,
        })
        .expect("env");
        assert_eq!(cfg.amqp_url, "amqp://x");
        assert!(matches!(cfg.blobs, BlobConfig::Local { .. }));
        assert!(
            cfg.apply_env(|k| (k == "INTAKE_PREFETCH").then(|| "many".into()))
                .is_err()
        );
        assert!(toml::from_str::<Config>("typo_key = 1").is_err());
    }
}
