#!/usr/bin/env bash
# The watcher's figures, against the floor measured in the same run:
#
# 1. event -> link realized: a parent declares a link to the docker name of a child
#    (`docker-link.links: CHILD:db`); the child is replaced ROUNDS times (a new container of the
#    same name, as compose recreates one), and each time the watcher connects the new child to
#    the parent's link network under the alias. Latency = the daemon's own timestamps, from the
#    child's `start` event to its `connect` event on the link network. Floor = the same
#    replacement with no watcher, where this script itself sends the engine's `POST
#    /networks/{id}/connect` with an alias the moment `docker run -d` returns, measured by the
#    same two events: what any watcher must wait for at least (a just-started container costs
#    the engine far more to connect than an idle one: that connect, timed around the request,
#    is printed for context). Also the watcher's own event -> applied histogram (rules
#    included).
# 2. idle: CPU time and RSS of the watcher process over IDLE seconds without events.
# 3. the window of a new link network: connect -> its chain in the watcher's table.
# 4. a burst of 500 container events: passes, CPU time, peak RSS.
#
#   benches/watcher.sh [BINARY] [ROUNDS=100] [IDLE=30]
#
# Runs `docker link watcher run --foreground` of BINARY in a registry namespace of its own;
# everything it creates carries docker-link.bench=<pid> and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
rounds=${2:-100}
idle=${3:-30}
tag=$$
ns=bw$tag
export DOCKER_LINK_REGISTRY=$ns DOCKER_LINK_STATIC_BIN=$bin DOCKER_LINK_WATCHER=off
busybox=$(tests/images/build.sh busybox)
sock=$(docker context inspect -f '{{.Endpoints.docker.Host}}' 2>/dev/null | sed 's|^unix://||')
host=${DOCKER_HOST:-}
[ -S "${host#unix://}" ] && sock=${host#unix://}
[ -S "$sock" ] || sock=/var/run/docker.sock
work=$(mktemp -d)
wpid=
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
  docker ps -aq --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter "label=docker-link.registry=$ns" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=docker-link.registry=$ns" | xargs -r docker network rm >/dev/null 2>&1 || true
  docker network ls -q --filter "label=docker-link.bench=$tag" | xargs -r docker network rm >/dev/null 2>&1 || true
  nft delete table inet "docker-link-$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if(i<1)i=1; print a[i]}'; }

child=bw$tag-child
docker run -d --label "docker-link.bench=$tag" --name "$child" --expose 6379 "$busybox" sleep 3600 >/dev/null
parent=$(docker run -d --label "docker-link.bench=$tag" --label "docker-link.registry=$ns" \
  --label "docker-link.links=$child:db" --name "bw$tag-parent" "$busybox" sleep 3600)
net=docker-link-${parent:0:12}

"$bin" link watcher run --foreground --status-file "$work/status.json" 2>"$work/watcher.log" &
wpid=$!
for _ in $(seq 100); do docker network inspect "$net" >/dev/null 2>&1 && break; sleep 0.1; done
docker network inspect "$net" >/dev/null

# 1. Replace the child ROUNDS times; wait for each to be connected before the next. The events
#    are streamed as they come (the daemon replays only its last 256).
docker events \
  --format '{{.Type}}|{{.Action}}|{{.TimeNano}}|{{.Actor.ID}}|{{index .Actor.Attributes "container"}}|{{index .Actor.Attributes "name"}}' \
  > "$work/events" &
epid=$!
sleep 0.5
for i in $(seq "$rounds"); do
  docker rm -f "$child" >/dev/null
  docker run -d --label "docker-link.bench=$tag" --name "$child" --expose 6379 "$busybox" sleep 3600 >/dev/null
  for _ in $(seq 200); do
    docker inspect -f "{{with index .NetworkSettings.Networks \"$net\"}}ok{{end}}" "$child" 2>/dev/null | grep -q ok && break
    sleep 0.02
  done
done
# Floor: the same replacement, connected by this script the moment `docker run -d` returns
# (no watcher involved: the floor child is linked by no one).
floor_net=bw$tag-floor
fchild=bw$tag-fchild
docker network create --label "docker-link.bench=$tag" "$floor_net" >/dev/null
docker run -d --label "docker-link.bench=$tag" --name "$fchild" --expose 6379 "$busybox" sleep 3600 >/dev/null
for i in $(seq "$rounds"); do
  docker rm -f "$fchild" >/dev/null
  id=$(docker run -d --label "docker-link.bench=$tag" --name "$fchild" --expose 6379 "$busybox" sleep 3600)
  curl -s -o /dev/null --unix-socket "$sock" -X POST -H 'Content-Type: application/json' \
    -d "{\"Container\":\"$id\",\"EndpointConfig\":{\"Aliases\":[\"db\"]}}" \
    "http://d/networks/$floor_net/connect"
done
sleep 0.5
kill "$epid"; wait "$epid" 2>/dev/null || true
# Start -> connect on NET of each container named NAME. A child connected before its start
# (the watcher links a created container) has the link when it starts: 0 ms.
latencies() {
  awk -F'|' -v net="$1" -v child="$2" '
    $1=="container" && $2=="start" && $6==child {start[$4]=$3}
    $1=="network" && $2=="connect" && $6==net && !($5 in conn) {conn[$5]=$3}
    END {for (c in start) if (c in conn) {d=(conn[c]-start[c])/1e6; if (d<0) {d=0; early++}; printf "%.1f\n", d}
         print early+0 > "/dev/stderr"}
  ' "$work/events"
}
latencies "$net" "$child" > "$work/latency" 2> "$work/early"
latencies "$floor_net" "$fchild" > "$work/floor" 2>/dev/null
got=$(wc -l < "$work/latency")

# For context: the engine's own connect with an alias, N times, of an idle container, timed
# around the request.
probe=$(docker run -d --label "docker-link.bench=$tag" "$busybox" sleep 3600)
for i in $(seq "$rounds"); do
  curl -s -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" -X POST \
    -H 'Content-Type: application/json' \
    -d "{\"Container\":\"$probe\",\"EndpointConfig\":{\"Aliases\":[\"db\"]}}" \
    "http://d/networks/$floor_net/connect" | awk '{printf "%.1f\n", $1*1000}' >> "$work/idle"
  docker network disconnect "$floor_net" "$probe" >/dev/null
done


p50=$(pct 0.5 < "$work/latency"); p99=$(pct 0.99 < "$work/latency")
f50=$(pct 0.5 < "$work/floor"); f99=$(pct 0.99 < "$work/floor")
echo "engine $(docker version -f '{{.Server.Version}}'), $got of $rounds child replacements measured, $(cat "$work/early") linked before their start"
echo "event -> link realized (child start -> its connect under the alias): p50 ${p50} ms, p99 ${p99} ms"
echo "floor (the script connects at once, same events):                     p50 ${f50} ms, p99 ${f99} ms ($(wc -l < "$work/floor") measured)"
awk -v a="$p50" -v b="$f50" -v c="$p99" -v d="$f99" 'BEGIN {printf "ratio: p50 %.2fx, p99 %.2fx\n", a/b, c/d}'
i50=$(pct 0.5 < "$work/idle"); i99=$(pct 0.99 < "$work/idle")
echo "context: the engine's connect of an idle container, timed around the request: p50 ${i50} ms, p99 ${i99} ms"
awk -v a="$p50" -v b="$i50" -v c="$p99" -v d="$i99" 'BEGIN {printf "context ratio against that idle connect: p50 %.2fx, p99 %.2fx\n", a/b, c/d}'
python3 - "$work/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
h = s["Latency"]
bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
def q(p):
    want = p * h["count"]
    for b, c in zip(bounds, h["counts"]):
        if c >= want:
            return "<= %d ms" % (b * 1000)
    return "> 30 s"
print("watcher's own event -> applied (rules included): p50 %s, p99 %s over %d passes after events"
      % (q(0.5), q(0.99), h["count"]))
print("rules: %s" % s.get("Rules"))
PY

# 3. The window of a new link network: from `docker link connect` returning to the chain of its
#    bridge in the watcher's table (before it, the new network has no rules of ours). Polled
#    every few ms with `nft` in the daemon's namespace (this script runs there).
for i in $(seq 10); do
  p=$(docker run -d --label "docker-link.bench=$tag" --label "docker-link.registry=$ns" "$busybox" sleep 3600)
  c=$(docker run -d --label "docker-link.bench=$tag" --expose 80 "$busybox" sleep 3600)
  "$bin" link connect "$p" "$c:w$i" >/dev/null 2>&1
  t0=$(date +%s%N)
  id=$(docker network inspect -f '{{.Id}}' "docker-link-${p:0:12}")
  for _ in $(seq 2000); do
    nft list chain inet "docker-link-$ns" "bridge-br-${id:0:12}" >/dev/null 2>&1 && break
    sleep 0.002
  done
  echo $(( ($(date +%s%N) - t0) / 1000000 )) >> "$work/window"
done
echo "window of a new link network (connect returned -> its chain in place): p50 $(pct 0.5 < "$work/window") ms, max $(sort -n "$work/window" | tail -1) ms over 10; a child restart has none (fixed addresses: its rules stay)"

# 4. A burst of 500 container events (125 containers created, started and removed, 16 at a
#    time): passes run, CPU time spent, peak RSS, and how long after the last event the
#    watcher was done.
passes() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Passes"])' "$work/status.json"; }
seen() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["EventsSeen"])' "$work/status.json"; }
cpu() { awk '{print $14 + $15}' "/proc/$wpid/stat"; }
sleep 2
p0=$(passes); e0=$(seen); c0=$(cpu)
seq 125 | xargs -P 16 -I{} docker run --rm --label "docker-link.bench=$tag" "$busybox" true >/dev/null
for _ in $(seq 100); do [ "$(( $(seen) - e0 ))" -ge 500 ] && break; sleep 0.1; done
sleep 1
p1=$(passes); e1=$(seen); c1=$(cpu)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$wpid/status")
awk -v e=$((e1 - e0)) -v p=$((p1 - p0)) -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v hwm="$hwm" 'BEGIN {
  printf "burst: %d events, %d passes, CPU %.2f s, peak RSS %.1f MiB\n", e, p, c / hz, hwm / 1024 }'

# 2. Idle (after the passes the last events caused).
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$wpid/stat"; }
t0=$(ticks); sleep "$idle"; t1=$(ticks)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$wpid/smaps_rollup")
grep -E '^(Rss|Anonymous|LazyFree|Pss_File)' "/proc/$wpid/smaps_rollup" | tr -s ' ' | paste -sd' ' >&2
awk '/^[0-9a-f]+-/ {m=$1" "$2" "$6} /^Rss:/ {if ($2>256) print "  " $2 " kB " m}' "/proc/$wpid/smaps" >&2
# What the largest anonymous mapping starts with (an ELF header would be a copy of the binary).
python3 - "$wpid" >&2 <<'PY'
import re, sys
pid = sys.argv[1]
best = None
for block in open(f"/proc/{pid}/smaps").read().split("\n"):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*$", block)
    if m:
        size = int(m.group(2), 16) - int(m.group(1), 16)
        if best is None or size > best[1]:
            best = (int(m.group(1), 16), size)
with open(f"/proc/{pid}/mem", "rb") as f:
    f.seek(best[0])
    print("  largest anonymous mapping: %d kB, starts %r" % (best[1] // 1024, f.read(16)))
    # What it holds: its most frequent printable strings, and how much of it is zero.
    f.seek(best[0])
    data = f.read(best[1])
    print("  of it zero pages: %d of %d" % (sum(1 for i in range(0, len(data), 4096) if not data[i:i + 4096].strip(b"\0")), len(data) // 4096))
    from collections import Counter
    words = Counter(w[:60] for w in re.findall(rb"[ -~]{12,}", data))
    for w, n in words.most_common(8):
        print("   %6d x %r" % (n, w))
PY
awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$idle" -v rss="$rss" -v anon="$anon" 'BEGIN {
  printf "idle %d s: CPU %.2f%% (%d ticks), RSS %.1f MiB (%.1f MiB anonymous, the rest pages of the binary)\n", s, 100 * t / hz / s, t, rss / 1024, anon / 1024 }'
