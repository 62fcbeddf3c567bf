//! Start-up shared by the commands that need PostgreSQL and RabbitMQ: load the
//! configuration, connect eagerly, and turn "not reachable" into one line that
//! says how to start the service.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use intake::blob::Blobs;
use intake::config::Config;
use intake::database::{self, DatabaseError};
use intake::decide::Policy;
use intake::ingest::Intake;
use intake::metadata::Labels;
use intake::metrics::Metrics;
use intake::queue::{self, Topology};

pub struct App {
    pub cfg: Config,
    pub intake: Intake,
    pub topology: Topology,
}

impl App {
    pub async fn start(config: Option<&Path>) -> anyhow::Result<App> {
        let cfg = Config::load(config)?;
        let pool = match database::connect(&cfg.database_url, 16).await {
            Ok(p) => p,
            Err(e @ DatabaseError::Unreachable { .. }) => {
                return Err(anyhow!(
                    "{e}. Start it with `docker compose up -d postgres` (or `pg_ctlcluster --skip-systemctl-redirect 15 main start`), or point INTAKE_DATABASE_URL at a running server."
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = queue::connect(&cfg.amqp_url).await {
            return Err(anyhow!(
                "RabbitMQ is not reachable at {} ({e}). Start it with `docker compose up -d rabbitmq` (or `rabbitmq-server -detached`), or point INTAKE_AMQP_URL at a running broker.",
                redact(&cfg.amqp_url)
            ));
        }
        let blobs = Blobs::open(&cfg.blobs, tokio::runtime::Handle::current())
            .context("opening the blob store")?;
        let policy = Policy {
            limits: cfg.limits,
            labels: Labels::new(&cfg.vendor),
        };
        let topology = Topology::new(&cfg.queue_prefix);
        let intake = Intake {
            pool,
            blobs,
            policy: Arc::new(policy),
            metrics: Metrics::new(),
            outbox_wake: Default::default(),
        };
        Ok(App {
            cfg,
            intake,
            topology,
        })
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
