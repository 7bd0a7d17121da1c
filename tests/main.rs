//! The one integration-test binary: golden trees, CLI behaviour, PKI checks and real-program checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, clippy::disallowed_types)]

mod cli;
mod cluster;
mod common;
mod day2;
mod first_hour;
mod golden;
mod hostile;
mod layout;
mod lifecycle;
mod nodes;
mod pki;
mod realworld;
mod review;
