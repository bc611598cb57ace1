#!/usr/bin/env bash
# What a TAB costs: `docker link <TAB>` (our plugin, asked by the docker CLI through cobra's
# __complete, listing containers from the daemon) against the docker CLI's own container
# completion, `docker rm <TAB>`, in the same run, with the same containers on the daemon.
#
#   benches/complete.sh [path/to/docker-link] [containers]   (default: dist/docker-link, else
#                                                              target/release; 50 containers)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
n=${2:-50}
[ -n "$bin" ] || for c in dist/docker-link target/release/docker-link; do [ -x "$c" ] && bin=$c && break; done
[ -x "${bin:-}" ] || { echo "build first: scripts/build-static" >&2; exit 1; }
bin=$(realpath "$bin")
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
image=$(bash tests/images/build.sh busybox)

tmp=$(mktemp -d)
label="docker-link.bench=$$"
cleanup() {
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/cli-plugins"
for name in link ls proxy net init; do ln -s "$bin" "$tmp/cli-plugins/docker-$name"; done
for i in $(seq 1 "$n"); do
  docker create --label "$label" --label docker-link.test=1 --name "dl-bench-$$-$i" "$image" true >/dev/null
done

# Both must offer the containers, or the comparison means nothing.
DOCKER_CONFIG=$tmp docker __complete link '' 2>/dev/null | grep -q "dl-bench-$$-1" \
  || { echo "docker link <TAB> does not list the containers" >&2; exit 1; }
DOCKER_CONFIG=$tmp docker __complete rm '' 2>/dev/null | grep -q "dl-bench-$$-1" \
  || { echo "docker rm <TAB> does not list the containers" >&2; exit 1; }

hyperfine --warmup 3 --runs 40 --export-json "$tmp/complete.json" \
  "DOCKER_CONFIG=$tmp docker __complete link ''" \
  "DOCKER_CONFIG=$tmp docker __complete rm ''" \
  "DOCKER_CONFIG=$tmp docker __complete ls --f" >&2

python3 - "$tmp/complete.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
ours, peer, flags = (x["mean"] * 1e3 for x in r)
print(f"{sys.argv[2]} containers")
print(f"docker link <TAB> (ours, through the CLI): {ours:.1f} ms")
print(f"docker rm <TAB> (the CLI's own):          {peer:.1f} ms; ours/docker = {ours/peer:.2f}")
print(f"docker ls --f<TAB> (ours, no daemon):      {flags:.1f} ms")
PY
