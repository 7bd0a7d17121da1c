//! The cluster PKI: certificate table (`profiles`), seed-derived keys (`keys`) and issuing (`issue`).

pub mod issue;
pub mod keys;
pub mod profiles;

pub use issue::{issue_all, Issued, Pki};
