#!/usr/bin/env bash
# docker proxy's figures, against the floor measured in the same run, for nginx and haproxy:
#
# 1. event -> route live: a labelled backend is started ROUNDS times; latency = from the
#    daemon's `start` event (its own timestamp) to the first 200 through the proxy (curl from
#    this host every 5 ms). Removal likewise: from `die` to the first 404 (no request reaches
#    it any more). Floor = event delivery alone (the `start` event's timestamp to its arrival
#    in `docker events` here) + the engine's own reload of the same configuration through
#    exec (`nginx -s reload`; haproxy: `kill -USR2 1`), each timed ROUNDS times.
# 2. a burst of BURST backends started at once while wrk loads a stable backend through the
#    proxy: reloads the proxy did (its state), failed requests (non-2xx and socket errors).
# 3. 1,000 routes (10 containers with 100 aliases each): render + validate + reload +
#    confirm (`docker proxy reload`), and the proxy container's memory after it.
#
#   benches/proxy.sh [BINARY] [ROUNDS=100] [BURST=100]
#
# Runs `docker link watcher run --foreground` of BINARY in a registry namespace of its own;
# everything it creates carries docker-link.bench=<pid> and is removed at exit. The proxies
# route only those containers (--only-label). Needs the daemon's bridge addresses reachable
# from here (a local daemon) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-$(scripts/build-static)}
rounds=${2:-100}
burst=${3:-100}
tag=$$
ns=bp$tag
export DOCKER_LINK_REGISTRY=$ns DOCKER_LINK_STATIC_BIN=$bin DOCKER_LINK_WATCHER=off
busybox=$(tests/images/build.sh busybox)
nginx=$(tests/images/build.sh nginx)
haproxy=$(tests/images/build.sh haproxy)
work=$(mktemp -d)
wpid=
cleanup() {
  # KEEP_LOG=FILE keeps the watcher's log (info, or DOCKER_LINK_LOG's level).
  [ -z "${KEEP_LOG:-}" ] || cp "$work/watcher.log" "$KEEP_LOG" 2>/dev/null || true
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
  docker ps -aq --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter "label=docker-link.registry=$ns" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=docker-link.bench=$tag" | xargs -r docker network rm >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if(i<1)i=1; print a[i]}'; }
now_ns() { date +%s%N; }

net=bp$tag
docker network create --label "docker-link.bench=$tag" "$net" >/dev/null
serve() { # name alias [extra run flags…]: a busybox httpd routed as ALIAS
  local name=$1 alias=$2; shift 2
  docker run -d --label "docker-link.bench=$tag" --label "proxy.aliases=$alias" --network "$net" \
    --expose 80 --name "$name" "$@" "$busybox" \
    sh -c "mkdir -p /www && echo $name > /www/index.html && exec httpd -f -p 80 -h /www" >/dev/null
}

DOCKER_LINK_LOG=${DOCKER_LINK_LOG:-info} "$bin" link watcher run --foreground --no-rules \
  --status-file "$work/status.json" 2>"$work/watcher.log" &
wpid=$!
for _ in $(seq 100); do [ -f "$work/status.json" ] && break; sleep 0.1; done

echo "engine $(docker version -f '{{.Server.Version}}'), $(nproc) cores; $rounds starts and stops per proxy, burst of $burst"
for engine in nginx haproxy; do
  image=$nginx; [ "$engine" = haproxy ] && image=$haproxy
  p=bp$tag-$engine
  "$bin" proxy up --name "$p" --engine "$engine" --image "$image" --explicit \
    --only-label "docker-link.bench=$tag" 2>&1 | tail -1
  ip=$(docker inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' "$p")
  code() { curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Host: $1" "http://$ip/" || true; }
  # A request in flight to a backend that just died hangs (its address is gone), and one can
  # wait on a connection at any moment: a route's arrival or removal is watched by a request
  # every 10 ms, each on its own, none waiting for the one before (each gives up after
  # 0.5 s); the first answer CODE to arrive is when the route came or went.
  code_fast() { curl -s -o /dev/null -m 0.5 -w '%{http_code}' -H "Host: $1" "http://$ip/" || true; }
  first() { # CODE HOST: the time (ns) the first answer CODE arrived
    local f="$work/probe" pids=()
    : > "$f"
    while [ ! -s "$f" ]; do
      { [ "$(code_fast "$2")" = "$1" ] && now_ns >> "$f"; } &
      pids+=($!)
      sleep 0.01
    done
    wait "${pids[@]}" 2>/dev/null || true
    sort -n "$f" | head -1
  }

  # 1. Starts and stops of one backend.
  serve "$p-web" "web-$engine" >/dev/null
  for _ in $(seq 400); do [ "$(code "web-$engine")" = 200 ] && break; sleep 0.02; done
  docker stop -t 0 "$p-web" >/dev/null
  for _ in $(seq 400); do [ "$(code "web-$engine")" = 404 ] && break; sleep 0.02; done
  docker events --filter "container=$p-web" --format '{{.Action}} {{.TimeNano}}' > "$work/events-$engine" &
  epid=$!
  sleep 0.3
  : > "$work/live-$engine"; : > "$work/gone-$engine"
  for i in $(seq "$rounds"); do
    docker start "$p-web" >/dev/null
    t_live=$(first 200 "web-$engine")
    docker stop -t 0 "$p-web" >/dev/null
    t_gone=$(first 404 "web-$engine")
    sleep 0.2
    t_start=$(awk '$1=="start" {t=$2} END {print t}' "$work/events-$engine")
    t_die=$(awk '$1=="die" {t=$2} END {print t}' "$work/events-$engine")
    echo $(( (t_live - t_start) / 1000000 )) >> "$work/live-$engine"
    echo $(( (t_gone - t_die) / 1000000 )) >> "$work/gone-$engine"
  done
  kill "$epid"; wait "$epid" 2>/dev/null || true

  # Floor: event delivery alone, and the engine's own reload through exec.
  docker events --filter "label=docker-link.bench=$tag" --filter event=start \
    --format '{{.TimeNano}}' | while read -r t; do echo $(( ($(now_ns) - t) / 1000000 )); done \
    > "$work/delivery-$engine" &
  dpid=$!
  sleep 0.3
  for i in $(seq "$rounds"); do docker start "$p-web" >/dev/null; docker stop -t 0 "$p-web" >/dev/null; done
  sleep 0.5
  kill "$dpid" 2>/dev/null; pkill -P "$dpid" 2>/dev/null || true
  : > "$work/reload-$engine"
  for i in $(seq "$rounds"); do
    t0=$(now_ns)
    if [ "$engine" = nginx ]; then
      docker exec "$p" nginx -s reload -c /etc/docker-link-proxy/nginx.conf 2>/dev/null
    else
      docker exec "$p" kill -USR2 1
    fi
    echo $(( ($(now_ns) - t0) / 1000000 )) >> "$work/reload-$engine"
  done
  l50=$(pct 0.5 < "$work/live-$engine"); l99=$(pct 0.99 < "$work/live-$engine")
  g50=$(pct 0.5 < "$work/gone-$engine"); g99=$(pct 0.99 < "$work/gone-$engine")
  d50=$(pct 0.5 < "$work/delivery-$engine"); d99=$(pct 0.99 < "$work/delivery-$engine")
  r50=$(pct 0.5 < "$work/reload-$engine"); r99=$(pct 0.99 < "$work/reload-$engine")
  echo "$engine: event -> route live:  p50 ${l50} ms, p99 ${l99} ms"
  echo "$engine: event -> route gone:  p50 ${g50} ms, p99 ${g99} ms"
  echo "$engine: floor: event delivery p50 ${d50} ms, p99 ${d99} ms + reload through exec p50 ${r50} ms, p99 ${r99} ms"
  awk -v a="$l50" -v b="$((d50 + r50))" -v c="$l99" -v d="$((d99 + r99))" \
    'BEGIN {printf "'"$engine"': ratio to the floor: p50 %.2fx, p99 %.2fx\n", a/b, c/d}'

  # 2. A burst under load.
  serve "$p-stable" "stable-$engine" >/dev/null
  for _ in $(seq 400); do [ "$(code "stable-$engine")" = 200 ] && break; sleep 0.02; done
  r0=$("$bin" proxy status --name "$p" --format '{{.Detail.reloads}}')
  # wrk in 10 s runs until the burst is routed (its totals summed).
  rm -f "$work/stop"
  (while [ ! -f "$work/stop" ]; do wrk -t 2 -c 16 -d 10s -H "Host: stable-$engine" "http://$ip/"; done) \
    > "$work/wrk-$engine" 2>&1 &
  wrkpid=$!
  sleep 2
  t0=$(now_ns)
  # Each serves a page (a bare `httpd` answers 404 at /, which the proxy's 404 for an unknown
  # host cannot be told from).
  seq "$burst" | xargs -P 16 -I{} docker run -d --label "docker-link.bench=$tag" --label "proxy.aliases=b{}-$engine" \
    --network "$net" --expose 80 "$busybox" sh -c 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null
  t_runs=$(now_ns)
  # Every route live (each asked until it answers 200, for at most 120 s in all).
  unrouted=0
  for i in $(seq "$burst"); do
    until [ "$(code "b$i-$engine")" = 200 ]; do
      [ $(( ($(now_ns) - t0) / 1000000000 )) -lt 120 ] || { unrouted=$((unrouted + 1)); break; }
      sleep 0.05
    done
  done
  t1=$(now_ns)
  touch "$work/stop"
  wait "$wrkpid" || true
  r1=$("$bin" proxy status --name "$p" --format '{{.Detail.reloads}}')
  reqs=$(awk '/requests in/ {n += $1} END {print n + 0}' "$work/wrk-$engine")
  non2xx=$(awk '/Non-2xx/ {n += $NF} END {print n + 0}' "$work/wrk-$engine")
  sockerr=$(awk -F'[ ,]+' '/Socket errors/ {n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/wrk-$engine")
  echo "$engine: burst of $burst starts: $((r1 - r0)) reloads; the docker runs took $(( (t_runs - t0) / 1000000 )) ms, every route live $(( (t1 - t0) / 1000000 )) ms after the first ($unrouted never); wrk on a stable route meanwhile: $reqs requests, $non2xx non-2xx, $sockerr socket errors"
  docker ps -q --filter "label=docker-link.bench=$tag" --filter "label=proxy.aliases" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker rm -f "$p-web" >/dev/null 2>&1 || true

  # 3. 1,000 routes.
  for i in $(seq 10); do
    aliases=$(seq 100 | sed "s/^/r$i-/" | paste -sd,)
    docker run -d --label "docker-link.bench=$tag" --label "proxy.aliases=$aliases" --network "$net" \
      --expose 80 "$busybox" httpd -f -p 80 >/dev/null
  done
  sleep 3
  kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null || true; wpid=
  docker exec "$p" sh -c 'echo "# force" >> /etc/docker-link-proxy/'"$( [ "$engine" = nginx ] && echo nginx.conf || echo haproxy.cfg )"
  t0=$(now_ns)
  out=$("$bin" proxy reload --name "$p" 2>&1 | tail -1)
  t1=$(now_ns)
  mem=$(docker stats --no-stream --format '{{.MemUsage}}' "$p" | cut -d/ -f1)
  echo "$engine: 1,000 routes: docker proxy reload $(( (t1 - t0) / 1000000 )) ms in all ($out); proxy memory $mem"
  docker ps -q --filter "label=docker-link.bench=$tag" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker rm -f "$p" >/dev/null 2>&1 || true
  DOCKER_LINK_LOG=${DOCKER_LINK_LOG:-info} "$bin" link watcher run --foreground --no-rules \
    --status-file "$work/status.json" 2>>"$work/watcher.log" &
  wpid=$!
  sleep 1
done
