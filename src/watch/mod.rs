//! The watcher: the long-running, level-triggered reconciler shared by proxy, net and link realization.
