//! Reports on rendered bundles, read back from disk: `inspect` (certificate inventory, chains, key
//! pairs, checksums, expiry), `plan` (what going from one bundle to another means for a running
//! cluster) and the CloudFormation template.

pub mod cloudformation;
pub mod inspect;
pub mod plan;
pub mod verify;
