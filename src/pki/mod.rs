//! The cluster PKI: certificate table (`profiles`), seed-derived keys (`keys`, with P-256
//! arithmetic in `ec`) and issuing (`issue`).

pub mod ec;
pub mod issue;
pub mod keys;
pub mod profiles;

pub use issue::{issue_all, Issued, Pki};
