//! Link realization: per-parent link networks ([`network`]), what should be on them and how
//! to get there ([`realize`]: a pure plan and its apply), what prune removes ([`prune`]), the
//! plugin's subnet pool ([`pool`]), the legacy link environment ([`env`]), the `docker run`
//! command line ([`run_args`]), a command's session with the graph ([`session`]), and the
//! volume that shares the init between containers ([`init_volume`]).

pub mod env;
pub mod init_volume;
pub mod network;
pub mod pool;
pub mod prune;
pub mod reach;
pub mod realize;
pub mod run_args;
pub mod session;
