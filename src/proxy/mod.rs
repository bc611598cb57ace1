//! The proxy: route model from labels, templates, validation with the proxy itself, reload.
