//! The one integration binary. Modules by area; each says what belongs in it.
//!
//! Tests that need the daemon, root or namespaces are behind the `test-docker`, `test-netns`
//! and `test-init` features. With a feature on, a missing prerequisite fails the test: CI must
//! never pass by skipping.

// A fixture that cannot do its job panics with the reason: that is how a test fails. The
// crate's guard rails against unwrap and printing are for the product, not for this binary.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod cli;
mod complete;
#[cfg(feature = "test-docker")]
mod endpoint;
mod generated;
#[cfg(feature = "test-init")]
mod init;
#[cfg(feature = "test-docker")]
mod install;
#[cfg(feature = "test-docker")]
mod links;
#[cfg(feature = "test-docker")]
mod ls;
#[cfg(all(feature = "test-netns", feature = "test-docker"))]
mod net;
#[cfg(feature = "test-netns")]
mod netns;
#[cfg(feature = "test-docker")]
mod output;
#[cfg(feature = "test-docker")]
mod packaging;
#[cfg(feature = "test-docker")]
mod proxy;
#[cfg(feature = "test-netns")]
mod reach;
#[cfg(feature = "test-docker")]
mod registry;
#[cfg(feature = "test-docker")]
mod self_image;
#[cfg(feature = "test-docker")]
mod watcher;
// Shared fixtures: not every feature set uses every helper.
#[allow(dead_code)]
mod support;
