//! hardway: topology file + secret seed -> a bit-identical bundle of everything a Kubernetes cluster
//! needs before boot. Data flows one way: `model` (parse + validate) -> `catalog` (plain-data tables)
//! -> `render` (pure) -> `bundle` -> `io` (directory or zip) -> `cli`; `fmt` serves every layer and
//! `report` reads bundles back. Only `cli` and `io` touch the outside world.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bundle;
pub mod catalog;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod cli;
pub mod error;
pub mod fmt;
mod fuzz;
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod io;
pub mod model;
pub mod render;
pub mod report;

pub use bundle::{Bundle, Entry};
pub use error::{Error, Problem, Result};
#[doc(hidden)]
pub use fuzz::{dates_outcome, fuzz_dates, fuzz_one, DatesOutcome};
pub use model::{load, Checked, Topology};
pub use render::seed::Secrets;
pub use render::{predict_sizes, render, render_with, Options};
