#!/usr/bin/env bash
# Names and links at scale, ours against the docker CLI's nearest command, in one run on the
# same daemon:
#   - `docker ls -a` (our plugin through the CLI) against `docker ps -a`, and `docker-link ls -a`
#     run directly, with CONTAINERS containers and NAMES names and links in the graph;
#   - `docker link run --link` against `docker run` (one link, --rm, a command that exits);
#   - `docker link CONTAINER NAME` against `docker rename`, and where its time goes (the
#     registry write's steps, from its debug log);
#   - 50 writers of distinct names at once: wall time until all have landed, against 50
#     `docker rename` at once.
#
#   benches/links.sh [STATIC_BINARY] [CONTAINERS=300] [NAMES=500] [running|created]
#
# `created` makes the containers without starting them (1,000 running containers want more
# memory than the listing they are measured for needs).
# STATIC_BINARY defaults to what scripts/build-static prints. Everything it creates carries the
# label docker-link.bench=<pid> and its own registry namespace, and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
containers=${2:-300}
names=${3:-500}
state=${4:-running}
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
if [ "$state" = created ]; then make=(create); else make=(run -d); fi
seq "$containers" | xargs -P 8 -I{} docker "${make[@]}" --label "docker-link.bench=$tag" \
  --name "bench$tag-c{}" "$busybox" sleep 3600 >/dev/null

# Half the names are root names, half are links: 10 children per parent. Written by
# $WRITERS writers at once (16; they land together in few registry generations; 1 for a
# version that cannot take concurrent writers).
writers=${WRITERS:-16}
root=$((names / 2))
links=$((names - root))
echo "== $root names, $links links" >&2
t0=$(date +%s%N)
seq "$root" | xargs -P "$writers" -I{} sh -c \
  '"$0" link "bench$1-c$(( ({} - 1) % $2 + 1 ))" "bench$1-n{}" >/dev/null' "$bin" "$tag" "$containers"
t1=$(date +%s%N)
seq "$links" | xargs -P "$writers" -I{} sh -c '
  i={}; parent=$(( (i - 1) / 10 + 1 )); child=$(( $2 - (i - 1) % $2 ))
  [ "$child" = "$parent" ] && child=$((child - 1))
  "$0" link connect "bench$1-c$parent" "bench$1-c$child:l$i" >/dev/null 2>&1' "$bin" "$tag" "$containers"
t2=$(date +%s%N)
echo "populated: $root names in $(( (t1 - t0) / 1000000 )) ms, $links links in $(( (t2 - t1) / 1000000 )) ms ($writers writers)" >&2
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

# Where one write's time goes: the store logs its steps at debug level.
DOCKER_LINK_LOG=debug "$bin" link "bench$tag-c4" "bench$tag-steps" 2>&1 >/dev/null \
  | grep -E 'committed' | sed 's/^ *DEBUG *//' > "$out.steps" || true

# 50 writers at once, distinct names, 3 rounds; and 50 `docker rename` at once.
fifty_t=(); renames_t=()
for r in 1 2 3; do
  t0=$(date +%s%N)
  seq 50 | xargs -P 50 -I{} sh -c \
    '"$0" link "bench$1-c$(( {} % 10 + 5 ))" "bench$1-f$2-{}" >/dev/null' "$bin" "$tag" "$r" || true
  t1=$(date +%s%N)
  seq 50 | xargs -P 50 -I{} sh -c \
    'docker rename "bench$1-c$(( {} + 20 ))" "bench$1-r$2-{}"' sh "$tag" "$r"
  t2=$(date +%s%N)
  fifty_t+=($((t1 - t0))); renames_t+=($((t2 - t1)))
  # Put the names back for the next round.
  seq 50 | xargs -P 50 -I{} sh -c \
    'docker rename "bench$1-r$2-{}" "bench$1-c$(( {} + 20 ))"' sh "$tag" "$r"
done
landed=$(docker ls -a --format '{{.Name}}' | grep -v / | grep -c "^bench$tag-f" || true)
printf '%s\n' "${fifty_t[@]}" > "$out.fifty.ns"
printf '%s\n' "${renames_t[@]}" > "$out.renames.ns"
echo "50 writers x 3 rounds: $landed of 150 names listed" >&2

python3 - "$out" <<'EOF'
import json, sys, statistics
out = sys.argv[1]
def means(kind):
    return {r["command"]: statistics.mean(r["times"]) * 1000 for r in json.load(open(f"{out}.{kind}.json"))["results"]}
ls = means("ls"); run = means("run")
def samples(kind):
    return [int(l) / 1e6 for l in open(f"{out}.{kind}.ns") if l.strip()]
def loop(kind):
    return statistics.mean(samples(kind))
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
lm = statistics.median(samples("link")); nm = statistics.median(samples("name"))
print(f"| `docker link CONTAINER NAME`, median | {lm:.1f} ms | {lm / nm:.2f} × `docker rename` median ({nm:.1f} ms) |")
f = samples("fifty"); r = samples("renames")
print(f"| 50 `docker link C NAME` at once, wall | {statistics.median(f):.0f} ms (rounds {', '.join(f'{x:.0f}' for x in f)}) | {statistics.median(f) / statistics.median(r):.2f} × 50 `docker rename` at once ({statistics.median(r):.0f} ms) |")
print()
for line in open(f"{out}.steps"):
    print("one write:", line.strip())
EOF
rm -f "$out" "$out".*.json "$out".*.ns "$out.steps"
