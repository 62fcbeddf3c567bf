//! intake: takes in suspicious-file submissions for an anti-malware support lab.
//!
//! The library holds the pure decision ([`decide`]) that every ingress channel
//! runs and `intake check` exposes, the detectors and readers it is built from,
//! and the types shared with the analysis workers.

pub mod classify;
pub mod decide;
pub mod digest;
pub mod mail;
pub mod metadata;
pub mod portal;
pub mod report;
pub mod unpack;

#[cfg(test)]
pub(crate) mod fixture;
