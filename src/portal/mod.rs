//! The customer support portal: accounts on a grant number (sign-up with
//! the handbook's rules, the address proven by a mailed link, sign-in with
//! back-off and lock-out, password reset), the company's entitlements, the
//! handbook's three SR views with one SR's page (open, add an update,
//! reopen within 30 days), sample uploads (streamed into the blob store
//! under size limits and a quota per grant, then the one ingest path), API
//! tokens and the JSON API with its OpenAPI description, and uploads read
//! from a directory. Pages are server-rendered in English and Chinese
//! through `http::page`, every form post CSRF-checked through
//! `http::guard`.

mod api;
pub mod quota;
mod srs;
mod tokens;
mod upload;
mod upload_dir;
mod upload_page;
pub mod web;

pub use upload::UploadConfig;
pub use upload_dir::{METADATA_FILE, UploadError, read_upload};
