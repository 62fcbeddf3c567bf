//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/` but cannot tell cargo to watch the folder for new ones.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
