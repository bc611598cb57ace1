//! `docker net`: conlink's declarative layer-2/3 networking for containers.
//!
//! - [`config`]: the `x-network` schema, merge, interpolation ([`interp`]) and validation;
//!   [`sources`] finds the files as compose does.
//! - [`addr`]: CIDRs, MACs, replica offsets, derived names and MACs.
//! - [`graph`]: the topology as Graphviz dot or JSON (conlink's net2dot).
//! - [`plan`] (desired vs observed, pure), [`kernel`] (observe and apply over rtnetlink),
//!   [`realize`] (one reconcile), [`store`] (the desired state on the daemon), [`forward`]
//!   (published ports through a forwarder container).

pub(crate) mod addr;
pub(crate) mod config;
pub(crate) mod forward;
pub(crate) mod graph;
pub(crate) mod interp;
pub(crate) mod kernel;
pub(crate) mod plan;
pub(crate) mod realize;
pub(crate) mod sources;
pub(crate) mod status;
pub(crate) mod store;

/// The short form of a container id, for messages.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
