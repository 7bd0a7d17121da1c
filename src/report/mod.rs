//! Reports on rendered bundles, read back from disk: `inspect` (certificate inventory, chains, key
//! pairs, checksums, expiry) and the CloudFormation template.

pub mod cloudformation;
pub mod inspect;
