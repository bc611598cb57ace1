#!/usr/bin/env bash
# The metadata probe runs before every docker command and for every plugin on `docker --help`:
# time ours against the floor (exec of /bin/true) and a compose v2 plugin when one is installed,
# and the cost the probe adds to a docker command (`docker --help` with and without our five
# names installed).
#
#   benches/probe.sh [path/to/docker-link]     (default: dist/docker-link, else target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
[ -n "$bin" ] || for c in dist/docker-link target/release/docker-link; do [ -x "$c" ] && bin=$c && break; done
[ -x "${bin:-}" ] || { echo "build first: scripts/build-static" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }

compose=""
for c in ~/.docker/cli-plugins/docker-compose /usr/libexec/docker/cli-plugins/docker-compose \
         /usr/lib/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose; do
  [ -x "$c" ] && "$c" docker-cli-plugin-metadata >/dev/null 2>&1 && compose=$c && break
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/with/cli-plugins" "$tmp/without/cli-plugins"
cp "$bin" "$tmp/with/cli-plugins/docker-link"
for n in ls proxy net init; do ln -s docker-link "$tmp/with/cli-plugins/docker-$n"; done

args=(--warmup 20 --runs 300 -N --export-json "$tmp/probe.json")
cmds=("$tmp/with/cli-plugins/docker-ls docker-cli-plugin-metadata" "/bin/true docker-cli-plugin-metadata")
[ -n "$compose" ] && cmds+=("$compose docker-cli-plugin-metadata")
hyperfine "${args[@]}" "${cmds[@]}" >&2
hyperfine --warmup 5 --runs 50 --export-json "$tmp/help.json" \
  "DOCKER_CONFIG=$tmp/without docker --help" "DOCKER_CONFIG=$tmp/with docker --help" >&2

python3 - "$tmp/probe.json" "$tmp/help.json" <<'PY'
import json, sys
probe = json.load(open(sys.argv[1]))["results"]
help_ = json.load(open(sys.argv[2]))["results"]
ours = probe[0]["mean"] * 1e3
print(f"metadata probe, ours: {ours:.2f} ms (median {probe[0]['median']*1e3:.2f} ms)")
floor = probe[1]["mean"] * 1e3
print(f"exec floor (/bin/true): {floor:.2f} ms; ours/floor = {ours/floor:.2f}")
if len(probe) > 2:
    peer = probe[2]["mean"] * 1e3
    print(f"metadata probe, docker compose plugin: {peer:.2f} ms; ours/compose = {ours/peer:.2f}")
a, b = help_[0]["mean"] * 1e3, help_[1]["mean"] * 1e3
print(f"docker --help: {a:.1f} ms without our plugins, {b:.1f} ms with all five: +{b-a:.1f} ms ({b/a:.2f}x)")
PY
