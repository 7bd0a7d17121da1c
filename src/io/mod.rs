//! The outside world of bundles: writing one to a directory or zip, reading one back. With `cli`, the
//! only code that touches the file system.

pub mod read;
pub mod write;

pub use read::read_bundle;
pub use write::{create_new_file, write_dir, write_zip, WriteOptions};
