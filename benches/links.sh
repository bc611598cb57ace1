#!/usr/bin/env bash
# Names and links at scale, ours against the docker CLI's nearest command, in one run on the
# same daemon:
#   - `docker ls -a` (our plugin through the CLI) against `docker ps -a`, and `docker-link ls -a`
#     run directly, with CONTAINERS containers and NAMES names and links in the graph;
#   - `docker link run --link` against `docker run` (one link, --rm, a command that exits);
#   - `docker link CONTAINER NAME` against `docker rename`.
#
#   benches/links.sh [STATIC_BINARY] [CONTAINERS=300] [NAMES=500]
#
# STATIC_BINARY defaults to what scripts/build-static prints. Everything it creates carries the
# label docker-link.bench=<pid> and its own registry namespace, and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
containers=${2:-300}
names=${3:-500}
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 1; }

tag=$$
export DOCKER_LINK_REGISTRY=bench$tag
export DOCKER_LINK_STATIC_BIN=$bin
cfg=$(mktemp -d)
"$bin" install --dir "$cfg/cli-plugins" >/dev/null
export DOCKER_CONFIG=$cfg
busybox=$(tests/images/build.sh busybox)
redis=$(tests/images/build.sh redis)

cleanup() {
  docker ps -aq --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" | xargs -r docker network rm >/dev/null 2>&1 || true
  rm -rf "$cfg"
}
trap cleanup EXIT

echo "== $containers containers" >&2
seq "$containers" | xargs -P 8 -I{} docker run -d --label "docker-link.bench=$tag" \
  --name "bench$tag-c{}" "$busybox" sleep 3600 >/dev/null

# Half the names are root names, half are links: 10 children per parent.
root=$((names / 2))
links=$((names - root))
echo "== $root names, $links links" >&2
for i in $(seq "$root"); do
  "$bin" link "bench$tag-c$(( (i - 1) % containers + 1 ))" "bench$tag-n$i" >/dev/null
done
for i in $(seq "$links"); do
  parent=$(( (i - 1) / 10 + 1 ))
  child=$(( containers - (i - 1) % containers ))
  [ "$child" = "$parent" ] && child=$((child - 1))
  "$bin" link connect "bench$tag-c$parent" "bench$tag-c$child:l$i" >/dev/null 2>&1
done
echo "docker ls -a lists $(docker ls -a | tail -n +2 | wc -l) paths" >&2

out=$(mktemp)
hyperfine -N --warmup 3 --runs 30 --export-json "$out.ls.json" \
  -n "docker ps -a" "docker ps -a" \
  -n "docker ls -a (plugin via CLI)" "docker ls -a" \
  -n "docker-link ls -a (direct)" "$bin ls -a" >&2

docker run -d --label "docker-link.bench=$tag" --name "bench$tag-child" "$redis" >/dev/null
hyperfine -N --warmup 2 --runs 15 --export-json "$out.run.json" \
  -n "docker run --rm" "docker run --rm $busybox true" \
  -n "docker link run --rm --link" "docker link run --rm --link bench$tag-child:db $busybox true" >&2

# Each run needs a fresh name, so these two are timed in a loop (20 runs each, interleaved).
rename_t=(); link_t=()
renamed=$(docker inspect -f '{{.Id}}' "bench$tag-c2")
for i in $(seq 20); do
  t0=$(date +%s%N); docker rename "$renamed" "bench$tag-r$i"; t1=$(date +%s%N)
  docker link "bench$tag-c3" "bench$tag-x$i" >/dev/null; t2=$(date +%s%N)
  rename_t+=($((t1 - t0))); link_t+=($((t2 - t1)))
done
printf '%s\n' "${rename_t[@]}" > "$out.name.ns"
printf '%s\n' "${link_t[@]}" > "$out.link.ns"

python3 - "$out" <<'EOF'
import json, sys, statistics
out = sys.argv[1]
def means(kind):
    return {r["command"]: statistics.mean(r["times"]) * 1000 for r in json.load(open(f"{out}.{kind}.json"))["results"]}
ls = means("ls"); run = means("run")
def loop(kind):
    return statistics.mean(int(l) for l in open(f"{out}.{kind}.ns") if l.strip()) / 1e6
name = {"docker rename": loop("name")}
link = {"docker link CONTAINER NAME": loop("link")}
ps = ls["docker ps -a"]
print("| what | mean | ratio |")
print("|---|---|---|")
for k, v in ls.items():
    print(f"| `{k}` | {v:.1f} ms | {v / ps:.2f} × `docker ps -a` |")
r0 = run["docker run --rm"]
for k, v in run.items():
    print(f"| `{k}` | {v:.1f} ms | {v / r0:.2f} × `docker run` (+{v - r0:.0f} ms) |")
n0 = statistics.mean(name.values())
for k, v in {**name, **link}.items():
    print(f"| `{k}` | {v:.1f} ms | {v / n0:.2f} × `docker rename` |")
EOF
rm -f "$out" "$out".*.json "$out".*.ns
