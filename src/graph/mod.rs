//! The name/link graph: the model (graphdb semantics), the registry store with compare-and-swap generations, and the declared labels.
