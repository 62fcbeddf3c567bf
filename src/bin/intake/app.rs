//! Start-up shared by the commands that need PostgreSQL and RabbitMQ: load the
//! configuration, connect eagerly, and turn "not reachable" into one line that
//! says how to start the service.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use intake::config::Config;
use intake::ingest::{Intake, MailPolicy};
use intake::metrics::Metrics;
use intake::smtp::Recipients;
use intake::store::database::{self, DatabaseError};
use intake::store::queue::{self, Topology};

pub struct App {
    pub cfg: Config,
    pub intake: Intake,
    pub topology: Topology,
}

impl App {
    /// Connects to PostgreSQL (whose schema must be current) and checks
    /// RabbitMQ is reachable.
    pub async fn start(config: Option<&Path>) -> anyhow::Result<App> {
        App::open(config, true, false).await
    }

    /// Like [`App::start`], creating the database and applying the
    /// migrations first: `intake migrate`, and `intake demo` on its own
    /// database.
    pub async fn migrating(config: Option<&Path>) -> anyhow::Result<App> {
        App::open(config, true, true).await
    }

    /// Connects to PostgreSQL only: storing and recording need no broker
    /// (the relay publishes later), so mail taken from an MTA pipe is not
    /// refused while RabbitMQ is down.
    pub async fn start_without_broker(config: Option<&Path>) -> anyhow::Result<App> {
        App::open(config, false, false).await
    }

    async fn open(config: Option<&Path>, broker: bool, migrate: bool) -> anyhow::Result<App> {
        let mut cfg = Config::load(config)?;
        let (url, connections) = (&cfg.database_url, cfg.database_connections);
        let pool = if migrate {
            database::migrate(url, connections).await
        } else {
            database::connect(url, connections).await
        };
        let pool = pool.map_err(explain)?;
        if broker && let Err(e) = queue::connect(&cfg.amqp_url).await {
            return Err(anyhow!(
                "RabbitMQ is not reachable at {} ({e}). Start it with `docker compose up -d rabbitmq` (or `rabbitmq-server -detached`), or point INTAKE_AMQP_URL at a running broker.",
                redact(&cfg.amqp_url)
            ));
        }
        let secret = match &cfg.reply_secret {
            Some(s) => s.clone(),
            None => database::secret(&pool, "reply_token")
                .await
                .context("reading the reply token key")?,
        };
        cfg.answers.reply_key = intake::mail::token::ReplyKey::from_secret(&secret);
        let blobs = cfg
            .blobs(tokio::runtime::Handle::current())
            .context("opening the blob store")?;
        let policy = cfg.policy();
        let topology = Topology::new(&cfg.queue_prefix);
        let intake = Intake {
            pool,
            blobs,
            policy: Arc::new(policy),
            metrics: Metrics::new(),
            outbox_wake: Default::default(),
            clock: intake::clock::system(),
            mail: Arc::new(MailPolicy {
                answers: cfg.answers.clone(),
                ours: Recipients::new(&cfg.smtp.accept),
                trusted_authserv_ids: cfg.smtp.trusted_authserv_ids.clone(),
            }),
        };
        Ok(App {
            cfg,
            intake,
            topology,
        })
    }
}

/// A database error as the operator's one line: how to start an unreachable
/// server, what to run for a schema that is behind.
pub fn explain(e: DatabaseError) -> anyhow::Error {
    match e {
        e @ DatabaseError::Unreachable { .. } => anyhow!(
            "{e}. Start it with `docker compose up -d postgres` (or `pg_ctlcluster --skip-systemctl-redirect 15 main start`), or point INTAKE_DATABASE_URL at a running server."
        ),
        e => e.into(),
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
