#!/usr/bin/env bash
# What applying the link-isolation table costs: sys::nft::replace_table (one netlink batch) for
# the table links::reach plans over 1, 50 and 300 link networks (a parent and three children
# each, 80/tcp and 53/udp exposed, IPv4 and IPv6), against the floor measured in the same run:
# `nft -f` of the same table as text, in the same namespace. Runs in a fresh network namespace
# of its own (gone when it ends); needs root and nft.
#
#   benches/nft.sh [RUNS] [N...]        (default: 20 runs; 1 50 300 link networks)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}; shift || true
[ $# -gt 0 ] || set -- 1 50 300
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, nf_tables)" >&2; exit 1; }
command -v nft >/dev/null || { echo "needs nft (the floor)" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
nice -n 10 cargo build --release --example nft-bench >&2
echo "kernel $(uname -r), $(nft --version), $runs runs each" >&2
"$CARGO_TARGET_DIR/release/examples/nft-bench" "$runs" "$@"
