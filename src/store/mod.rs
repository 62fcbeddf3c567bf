//! The durable spine: the database and who owns its schema, recording a
//! decision as rows, the outbox with its relay to the broker and its mail
//! sender (`mailer`), the broker's topology, content-addressed (neutered) blobs, and the inbound rows'
//! leases. Everything here is I/O; what it writes is decided elsewhere.

pub mod accounts;
pub mod blob;
pub mod database;
pub mod deadlines;
pub mod events;
pub mod grants;
pub mod inputs;
pub mod mailer;
pub mod outbox;
pub mod queue;
pub mod record;
pub mod reputation;
pub mod retry;
pub mod srs;
pub mod staff;
pub mod uploads;
