//! The name/link graph: the model (graphdb semantics, pure), writes as data ([`ops`]), the
//! registry's compact label ([`codec`]), the registry store with compare-and-swap generations
//! ([`store`]) and the graph's second copy ([`copy`]).

pub mod codec;
pub mod copy;
pub mod model;
pub mod ops;
pub mod store;
