//! The proxy: typed values from hostile labels ([`value`]), the two label grammars
//! ([`labels`]), the route model and container selection ([`model`]), rendering with
//! templates that can only emit escaped values ([`render`]); putting it into a proxy
//! ([`apply`]), on an open commit session when the watcher holds one ([`session`]).

pub(crate) mod apply;
pub(crate) mod labels;
pub(crate) mod model;
pub(crate) mod render;
pub(crate) mod session;
pub(crate) mod value;
