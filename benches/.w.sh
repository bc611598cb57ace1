#!/usr/bin/env bash
# Many writers at once: WRITERS `docker link CONTAINER NAME` of distinct names started together,
# wall time until every one has exited, against as many `docker rename` started together (the
# floor: the daemon's own unique-name write), on the same daemon in the same run. Repeated
# ROUNDS times, at a given number of containers and names already in the graph; then says how
# many registry generations the writes took and how long the first generation's steps were.
#
#   benches/writers.sh [STATIC_BINARY] [CONTAINERS=300] [NAMES=0] [WRITERS=50] [ROUNDS=3]
#
# WRITERS_LOGS=DIR keeps each writer's debug log there.
#
# Everything it creates carries the label docker-link.bench=<pid> and its own registry
# namespace, and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
containers=${2:-300}
names=${3:-0}
writers=${4:-50}
rounds=${5:-3}
[ "$containers" -ge $((writers + 12)) ] || { echo "need at least $((writers + 12)) containers" >&2; exit 1; }

tag=$$
export DOCKER_LINK_REGISTRY=writers$tag
export DOCKER_LINK_STATIC_BIN=$bin
busybox=$(tests/images/build.sh busybox)
logs=$(mktemp -d)
cleanup() {
  docker ps -aq --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" | xargs -r docker volume rm >/dev/null 2>&1 || true
  if [ -n "${WRITERS_LOGS:-}" ]; then mkdir -p "$WRITERS_LOGS" && cp -r "$logs"/. "$WRITERS_LOGS"/; fi
  rm -rf "$logs"
}
trap cleanup EXIT

seq "$containers" | xargs -P 8 -I{} docker run -d --label "docker-link.bench=$tag" \
  --name "w$tag-c{}" "$busybox" sleep 3600 >/dev/null
# The graph before the rounds: NAMES names (16 writers), and at least one generation.
seq "$names" | xargs -r -P 16 -I{} sh -c \
  '"$0" link "w$1-c$(( {} % $2 + 1 ))" "w$1-pre{}" >/dev/null' "$bin" "$tag" "$containers"
"$bin" link "w$tag-c1" "w$tag-first" >/dev/null

ms() { echo $(( ($2 - $1) / 1000000 )); }
link_t=(); rename_t=()
for r in $(seq "$rounds"); do
  before=$(docker ps -a --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" --format '{{.Label "docker-link.generation"}}' | sort -n | tail -1)
  t0=$(date +%s%N)
  seq "$writers" | xargs -P "$writers" -I{} sh -c \
    'DOCKER_HOST=unix:///tmp/d.sock DOCKER_LINK_LOG_FORMAT=json DOCKER_LINK_LOG=docker_link=debug "$0" link "w$1-c$(( {} % 10 + 2 ))" "w$1-r$2-{}" >/dev/null 2>"$3/$2-{}.log"' \
    "$bin" "$tag" "$r" "$logs"
  t1=$(date +%s%N)
  seq "$writers" | xargs -P "$writers" -I{} sh -c \
    'docker rename "w$1-c$(( {} + 12 ))" "w$1-x$2-{}"' sh "$tag" "$r"
  t2=$(date +%s%N)
  seq "$writers" | xargs -P "$writers" -I{} sh -c \
    'docker rename "w$1-x$2-{}" "w$1-c$(( {} + 12 ))"' sh "$tag" "$r"
  after=$(docker ps -a --filter "label=docker-link.registry=$DOCKER_LINK_REGISTRY" --format '{{.Label "docker-link.generation"}}' | sort -n | tail -1)
  link_t+=("$(ms "$t0" "$t1")"); rename_t+=("$(ms "$t1" "$t2")")
  failed=$( (grep -l "^error" "$logs/$r-"*.log 2>/dev/null || true) | wc -l)
  echo "round $r: $writers writers ${link_t[-1]} ms, $writers renames ${rename_t[-1]} ms; generations $before -> $after; $failed failed" >&2
  grep -ho 'committed .*' "$logs/$r-"*.log | sed 's/^/  /' >&2 || true
done
landed=$("$bin" ls -a --format '{{.Name}}' | grep -v / | grep -c "^w$tag-r" || true)

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
lm=$(median "${link_t[@]}"); rm_=$(median "${rename_t[@]}")
echo "| containers | names before | writers | wall, median of $rounds | rounds | $writers \`docker rename\` at once | ratio | listed |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $containers | $names | $writers | $lm ms | ${link_t[*]} | $rm_ ms | $(awk "BEGIN {printf \"%.2f\", $lm / $rm_}") | $landed of $((writers * rounds)) |"
