//! Link realization: per-parent link networks, the plugin's subnet pool, and the legacy link environment algorithms.
