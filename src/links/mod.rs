//! Link realization: per-parent link networks, the plugin's subnet pool, and the legacy link environment algorithms.

pub mod env;
pub mod network;
pub mod pool;
pub mod run_args;
