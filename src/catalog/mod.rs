//! Plain-data tables, checked by their unit tests: the certificates, the kubeconfigs, which files each
//! node gets and which service consumes them, every bundle path, and the unit flags per version.
//! Imports only the model's plain types (roles).

pub mod certs;
pub mod flags;
pub mod kubeconfigs;
pub mod node_files;
pub mod paths;
