#!/usr/bin/env bash
# The watcher's resync after a daemon restart, at scale: PARENTS parents each declaring
# CHILDREN links (`docker-link.links` labels; 100 x 2 = 300 containers and 200 links by
# default), all `--restart always`, on a private dockerd in a network namespace of its own
# (the system daemon is never restarted). The watcher runs in the foreground against it.
#
#   benches/resync.sh [BINARY] [PARENTS=100] [CHILDREN=2]
#
# Prints: the first convergence (a watcher started on a daemon full of declared links), then
# for the restart: the daemon's own time to answer again and to bring every container back
# (the floor: what the engine does anyway), and the watcher's time from the daemon answering
# to its resync pass done, with every link network holding its parent and children.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
parents=${2:-100}
children=${3:-2}
dockerd=${DOCKERD:-dockerd}
dir=$(mktemp -d /tmp/dlrs.XXXX)
ns=dlrs$$
host=unix://$dir/docker.sock
wpid=
dpid=

dk() { DOCKER_HOST=$host docker "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
launch() {
  rm -f "$dir/docker.sock" "$dir/dockerd.pid"
  # Its own configuration: the system's daemon.json may set a data-root of its own.
  echo '{}' > "$dir/daemon.json"
  nsenter --net=/run/netns/$ns "$dockerd" --config-file "$dir/daemon.json" -H "$host" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    >>"$dir/dockerd.log" 2>&1 &
  dpid=$!
  until dk version >/dev/null 2>&1; do
    kill -0 "$dpid" 2>/dev/null || return 1
    sleep 0.05
  done
}
# The old daemon's containerd may still hold its sockets for a moment: try again.
start_daemon() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    launch && return 0
    sleep 1
  done
  tail -5 "$dir/dockerd.log" >&2
  exit 1
}
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
  if [ -n "$dpid" ]; then
    dk ps -aq | xargs -r -n 50 env DOCKER_HOST="$host" docker rm -f >/dev/null 2>&1 || true
    kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  umount -R "$dir/exec" 2>/dev/null || true
  rm -rf "$dir" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
start_daemon
image=$(tests/images/build.sh busybox)
docker save "$image" | dk load >/dev/null

# Children first (declared links name their child), then parents, 16 at a time.
t0=$(now_ms)
seq "$parents" | xargs -P 16 -I{} sh -c '
  for k in $(seq '"$children"'); do
    DOCKER_HOST='"$host"' docker run -d --restart always --name c{}-$k --expose 6379 '"$image"' sh -c "trap \"exit 0\" TERM; sleep 1d & wait" >/dev/null
  done'
seq "$parents" | xargs -P 16 -I{} sh -c '
  links=$(for k in $(seq '"$children"'); do printf "c{}-%s:a%s," "$k" "$k"; done)
  DOCKER_HOST='"$host"' docker run -d --restart always --name p{} --label "docker-link.links=${links%,}" '"$image"' sh -c "trap \"exit 0\" TERM; sleep 1d & wait" >/dev/null'
echo "made $((parents * (children + 1))) containers with $((parents * children)) declared links in $(( $(now_ms) - t0 )) ms"

status() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get(sys.argv[2], 0))' "$dir/status.json" "$1" 2>/dev/null || echo 0; }
# Every link network holds its parent and children (one listing: the networks' containers).
realized() {
  local full=0 net
  for net in $(dk network ls -q --filter label=docker-link.role=link-network); do
    [ "$(dk network inspect -f '{{len .Containers}}' "$net")" -eq $((children + 1)) ] && full=$((full + 1))
  done
  echo "$full"
}

t0=$(now_ms)
DOCKER_HOST=$host DOCKER_LINK_WATCHER=off "$bin" link watcher run --foreground \
  --status-file "$dir/status.json" 2>"$dir/watcher.log" &
wpid=$!
until [ "$(status Passes)" -ge 1 ] && [ "$(realized)" -eq "$parents" ]; do sleep 0.2; done
echo "first convergence (watcher started, $parents link networks made and filled): $(( $(now_ms) - t0 )) ms, first pass $(status LastPassMs) ms"

# The restart: SIGTERM to dockerd (its containers stop: their shell ends on SIGTERM), start it
# again.
resyncs=$(status Resyncs); passes=$(status Passes)
t0=$(now_ms)
kill "$dpid"; wait "$dpid" 2>/dev/null || true
start_daemon
t_up=$(now_ms)
running() { dk ps -q | wc -l; }
total=$((parents * (children + 1)))
# Every container back, or as many as the engine brings back: a daemon under load sometimes
# fails to restart some ("task … already exists"); those are reported, not waited for.
last=-1; steady=0
until [ "$(running)" -ge "$total" ]; do
  n=$(running)
  if [ "$n" -eq "$last" ]; then steady=$((steady + 1)); else steady=0; last=$n; fi
  [ "$steady" -ge 100 ] && break
  sleep 0.1
done
t_back=$(now_ms)
back=$(running)
[ "$back" -lt "$total" ] && echo "the engine brought back $back of $total containers (the others: $(dk ps -a --filter status=exited --format '{{.Status}}' | sort | uniq -c | tr -s ' ' | paste -sd';'))"
until [ "$(status Resyncs)" -gt "$resyncs" ] && [ "$(status Passes)" -gt "$passes" ]; do sleep 0.05; done
# The resync pass may have begun before every container was back: wait for the pass that
# saw them all, then check every link network.
# Parents the engine left stopped keep their link networks as they were.
until [ "$(realized)" -ge $(( parents - (total - back) )) ]; do sleep 0.2; done
t_done=$(now_ms)
echo "daemon restart: stopped and answering again in $(( t_up - t0 )) ms; all $total containers running $(( t_back - t_up )) ms later (the engine's own work)"
echo "watcher: resync converged (every link network full, checked) $(( t_done - t_up )) ms after the daemon answered; $(( t_done - t_back )) ms after the engine had every container back; last pass $(status LastPassMs) ms, $(( $(status Passes) - passes )) passes, errors: $(python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1]))["ErrorsByKind"].values()))' "$dir/status.json")"
grep -E 'resync' "$dir/watcher.log" | tail -3 >&2 || true
