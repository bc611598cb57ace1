//! The name/link graph: the model (graphdb semantics, pure), the registry store with
//! compare-and-swap generations, and the declared labels of containers made by
//! `docker link run/create`.

pub mod model;
pub mod store;
