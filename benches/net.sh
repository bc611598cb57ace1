#!/usr/bin/env bash
# docker net at scale, in one run on the same daemon and kernel:
#   - `docker-link net up` for CONTAINERS containers x LINKS links each (veth with its peer in
#     the container, bridge port, MAC, MTU, address, route), the Docker lookups included,
#     against the same kernel work done by iproute2 with `ip -batch` (one batch in the switch
#     namespace, one per container: the physical floor of the one-process-per-namespace way)
#     and against one `ip` process per operation (conlink's way); and the kernel's own floor:
#     the same work in the fewest requests (veths made up on their bridge in one request
#     each), the containers' batches at once;
#   - a second `up` (nothing to do), and `down` (teardown until the containers' links are gone);
#   - a container's restart to its links back, through the watcher's net duty, p50/p99
#     (from the daemon's start event, and from the `docker start` command, to the last link
#     present in the container);
#   - leaks afterwards: named namespaces, our processes' open sockets.
#
#   sudo benches/net.sh [CONTAINERS=20] [LINKS=10] [RESTARTS=20]
#
# Everything it creates carries the label docker-link.bench=<pid> (containers), lives in its
# own project and registry namespace, and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

containers=${1:-20}
links=${2:-10}
restarts=${3:-20}
[ "$(id -u)" -eq 0 ] || { echo "run as root (namespaces)" >&2; exit 1; }
# A release build (scripts/build-static makes the static one; any release binary will do).
[ -n "${BIN:-}" ] || [ -x target/release/docker-link ] || cargo build -q --release
bin=$(realpath "${BIN:-target/release/docker-link}")
busybox=$(tests/images/build.sh busybox)

tag=$$
project=netbench$tag
export DOCKER_LINK_REGISTRY=netbench$tag
# The restarts below go through a foreground watcher of its own: no watcher container.
export DOCKER_LINK_WATCHER=off
dir=$(mktemp -d)
watcher_pid=
cleanup() {
  [ -n "$watcher_pid" ] && kill "$watcher_pid" 2>/dev/null && wait "$watcher_pid" 2>/dev/null || true
  (cd "$dir" && "$bin" net down >/dev/null 2>&1) || true
  ip netns del "floor$tag" 2>/dev/null || true
  ip netns del "ops$tag" 2>/dev/null || true
  docker ps -aq --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
ms() { date +%s%N; }

# The configuration: service cI has links eth0..eth(LINKS-1), link j on bridge bj,
# address 10.(100+j).I.1/16 with a route through 10.(100+j).255.254.
{
  echo "name: $project"
  echo "services:"
  for i in $(seq 0 $((containers - 1))); do
    echo "  c$i:"
    echo "    image: busybox"
    echo "    x-network:"
    echo "      links:"
    for j in $(seq 0 $((links - 1))); do
      echo "        - {bridge: b$j, dev: eth$j, ip: 10.$((100 + j)).$i.1/16, mtu: 9000, route: 10.$((200 + j)).$i.0/24 via 10.$((100 + j)).255.254}"
    done
  done
} > "$dir/compose.yaml"

echo "== $containers containers x $links links = $((containers * links)) links"
for i in $(seq 0 $((containers - 1))); do
  docker run -d --network none --label "docker-link.bench=$tag" \
    --label "com.docker.compose.project=$project" --label "com.docker.compose.service=c$i" \
    --label com.docker.compose.container-number=1 --name "$project-c$i-1" "$busybox" sleep 3600 >/dev/null
done
pids=$(docker inspect -f '{{.State.Pid}}' $(docker ps -q --filter "label=docker-link.bench=$tag"))
total=$((containers * links))
ns_before=$(ls /run/netns | sort)

# ours
t0=$(ms); (cd "$dir" && "$bin" net up 2>/dev/null); t1=$(ms)
up_ms=$(( (t1 - t0) / 1000000 ))
t0=$(ms); (cd "$dir" && "$bin" net up 2>/dev/null); t1=$(ms)
noop_ms=$(( (t1 - t0) / 1000000 ))
first=$(echo "$pids" | head -1)
nsenter -t "$first" -n ip -o link show | grep -q "eth$((links - 1))" || { echo "up did not wire" >&2; exit 1; }
t0=$(ms); (cd "$dir" && "$bin" net down 2>/dev/null)
while nsenter -t "$first" -n ip -o link show | grep -q eth0; do sleep 0.005; done; t1=$(ms)
down_ms=$(( (t1 - t0) / 1000000 ))

# ip -batch: the same kernel work, one batch per namespace. TIGHT=1: the kernel's floor, in
# the fewest requests (each veth made with its master and up in its one request) and the
# containers' batches all at once, as ours does them.
floor_prepare() {
  local ns=$1 tight=$2; ip netns add "$ns"
  local b=$dir/switch.batch; : > "$b"
  for j in $(seq 0 $((links - 1))); do echo "link add b$j type bridge" >> "$b"; echo "link set b$j up" >> "$b"; done
  local i=0
  for pid in $pids; do
    local c=$dir/c$i.batch; : > "$c"
    for j in $(seq 0 $((links - 1))); do
      local mac="c2:00:00:$(printf %02x $i):$(printf %02x $j):01"
      if [ "$tight" = 1 ]; then
        echo "link add c${i}_1-eth$j mtu 9000 master b$j up type veth peer name eth$j address $mac mtu 9000 netns $pid" >> "$b"
      else
        echo "link add c${i}_1-eth$j mtu 9000 type veth peer name eth$j address $mac mtu 9000 netns $pid" >> "$b"
        echo "link set c${i}_1-eth$j master b$j up" >> "$b"
      fi
      echo "addr add 10.$((100 + j)).$i.1/16 dev eth$j" >> "$c"
      echo "link set eth$j up" >> "$c"
      echo "route add 10.$((200 + j)).$i.0/24 via 10.$((100 + j)).255.254 dev eth$j" >> "$c"
    done
    i=$((i + 1))
  done
}
# The timed part: the batches only (written above, untimed: their hundreds of printf
# subshells would cost more than the kernel work).
floor_run() {
  local ns=$1 tight=$2 b=$dir/switch.batch i=0
  ip -n "$ns" -batch "$b"
  local jobs=()
  for pid in $pids; do
    if [ "$tight" = 1 ]; then
      nsenter -t "$pid" -n ip -batch "$dir/c$i.batch" & jobs+=($!)
    else
      nsenter -t "$pid" -n ip -batch "$dir/c$i.batch"
    fi
    i=$((i + 1))
  done
  [ ${#jobs[@]} -eq 0 ] || wait "${jobs[@]}"
}
floor_prepare "floor$tag" 0; t0=$(ms); floor_run "floor$tag" 0; t1=$(ms)
floor_ms=$(( (t1 - t0) / 1000000 ))
ip netns del "floor$tag"
while nsenter -t "$first" -n ip -o link show | grep -q eth0; do sleep 0.005; done
floor_prepare "floor$tag" 1; t0=$(ms); floor_run "floor$tag" 1; t1=$(ms)
kernel_ms=$(( (t1 - t0) / 1000000 ))
ip netns del "floor$tag"
while nsenter -t "$first" -n ip -o link show | grep -q eth0; do sleep 0.005; done

# one ip process per operation (conlink's way), on the first 2 containers only (it is slow)
ops_once() {
  local ns=$1; ip netns add "$ns"; local n=0
  for j in $(seq 0 $((links - 1))); do ip -n "$ns" link add "b$j" type bridge; ip -n "$ns" link set "b$j" up; done
  local i=0
  for pid in $(echo "$pids" | head -2); do
    for j in $(seq 0 $((links - 1))); do
      ip -n "$ns" link add "c${i}_1-eth$j" type veth peer name "eth$j" netns "$pid"
      ip -n "$ns" link set "c${i}_1-eth$j" mtu 9000
      ip -n "$ns" link set "c${i}_1-eth$j" master "b$j" up
      nsenter -t "$pid" -n ip link set "eth$j" address "c2:00:00:$(printf %02x $i):$(printf %02x $j):01" mtu 9000
      nsenter -t "$pid" -n ip addr add "10.$((100 + j)).$i.1/16" dev "eth$j"
      nsenter -t "$pid" -n ip link set "eth$j" up
      nsenter -t "$pid" -n ip route add "10.$((200 + j)).$i.0/24" via "10.$((100 + j)).255.254" dev "eth$j"
      n=$((n + 1))
    done
    i=$((i + 1))
  done
  echo $n
}
t0=$(ms); ops_links=$(ops_once "ops$tag"); t1=$(ms)
ops_ms=$(( (t1 - t0) / 1000000 ))
ip netns del "ops$tag"
while nsenter -t "$first" -n ip -o link show | grep -q eth0; do sleep 0.005; done

per() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t / n }'; }
echo "docker-link net up (cold, lookups included): $up_ms ms = $(per $up_ms $total) ms/link"
echo "ip -batch (1 + $containers processes):          $floor_ms ms = $(per $floor_ms $total) ms/link   ours/floor = $(awk -v a=$up_ms -v b=$floor_ms 'BEGIN{printf "%.2f", a/b}')"
echo "kernel floor (ip -batch, fewest requests, containers at once): $kernel_ms ms = $(per $kernel_ms $total) ms/link   ours/kernel floor = $(awk -v a=$up_ms -v b=$kernel_ms 'BEGIN{printf "%.2f", a/b}')"
echo "one ip process per operation ($ops_links links): $ops_ms ms = $(per $ops_ms $ops_links) ms/link"
echo "docker-link net up again (nothing to do):   $noop_ms ms"
echo "docker-link net down (until the links are gone): $down_ms ms"

# restart -> links back, through the watcher
(cd "$dir" && "$bin" net up >/dev/null 2>&1)
"$bin" link watcher run --foreground --no-rules >/dev/null 2>&1 &
watcher_pid=$!
sleep 1
c=$project-c0-1
# From the daemon's start event (what the watcher reacts to), and from the `docker start`
# command (which takes the engine's own start, several hundred ms here, before the event).
docker events --filter "container=$c" --filter event=start --format '{{.TimeNano}}' > "$dir/starts" &
events_pid=$!
sleep 0.3
samples=(); from_cmd=()
for _ in $(seq 1 "$restarts"); do
  docker stop -t 0 "$c" >/dev/null
  t0=$(ms); docker start "$c" >/dev/null
  pid=$(docker inspect -f '{{.State.Pid}}' "$c")
  until grep -q "eth$((links - 1)):" "/proc/$pid/net/dev" 2>/dev/null; do sleep 0.002; done
  t1=$(ms)
  sleep 0.1
  t_event=$(tail -1 "$dir/starts")
  samples+=($(( (t1 - t_event) / 1000000 )))
  from_cmd+=($(( (t1 - t0) / 1000000 )))
done
kill "$events_pid" 2>/dev/null || true
p50_p99() { # the values: "p50 X ms, p99 (max) Y ms"
  local sorted; sorted=$(printf '%s\n' "$@" | sort -n)
  echo "p50 $(echo "$sorted" | awk -v n=$# 'NR == int((n + 1) / 2)') ms, p99 (max) $(echo "$sorted" | tail -1) ms"
}
echo "start event -> $links links back (watcher, $restarts restarts): $(p50_p99 "${samples[@]}")"
echo "docker start command -> $links links back (the engine's start included): $(p50_p99 "${from_cmd[@]}")"
kill "$watcher_pid"; wait "$watcher_pid" 2>/dev/null || true; watcher_pid=

(cd "$dir" && "$bin" net down >/dev/null 2>&1)
ns_after=$(ls /run/netns | sort)
if [ "$ns_before" = "$ns_after" ]; then echo "named namespaces afterwards: as before"; else echo "LEAK: named namespaces differ"; diff <(echo "$ns_before") <(echo "$ns_after") || true; fi
