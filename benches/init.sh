#!/usr/bin/env bash
# docker init against tini and dumb-init, in one run on one machine:
#
#   idle RSS           VmRSS of the init (from /proc) while its child sleeps, and its private
#                      (anonymous) part
#   reap 10,000        as PID 1 of a new PID namespace: 10,000 orphans end at once; time from
#                      their release until the last one is reaped (median of 5)
#   signal latency     median of 1,000 SIGUSR1s from a sender to the init's child
#   startup overhead   `INIT -- /bin/true` against `/bin/true` alone (median of 300)
#   binary size        our static binary (scripts/build-static) beside tini-static
#   memory in containers  what a container pays for its init: for each of ours (static),
#                      tini-static and dumb-init, 20 containers run it as PID 1 from one
#                      bind-mounted file; per container PSS (its private pages plus its share of
#                      the pages the 20 map of that file), VmRSS and RssAnon, the mean of the 20,
#                      idle and again after each init forwarded a signal
#
# Two tables: the given binary against the Debian builds of tini and dumb-init (dynamically
# linked), and our static binary against tini-static on every figure.
#
#   benches/init.sh [path/to/docker-link]      (default target/release/docker-link)
#
# Needs root (unshare --pid), a C compiler for the measuring helpers, Debian's tini,
# tini-static and dumb-init, and a Docker daemon (the containers; their busybox image is built
# by tests/images/build.sh). STATIC_BIN=path skips the static build
# (scripts/build-static).
#
# Method. The helpers are C so that the measuring costs microseconds, not a shell's
# milliseconds, and they take every timestamp from CLOCK_MONOTONIC, which is one clock for all
# processes of the machine:
# - latency: the receiver (the init's child) blocks SIGUSR1 and waits for it with sigwaitinfo;
#   for each signal the sender reads the clock, sends SIGUSR1 to the init, and blocks reading a
#   FIFO until the receiver writes back the time it got the signal. One signal in flight at a
#   time, so none coalesce; the gap includes the init's wakeup, its read of the signalfd (or
#   sigtimedwait) and its kill(2). "direct" is the same with the receiver signalled without an
#   init in between: the floor.
# - reaping: the init's child forks an intermediate that forks 10,000 children blocked reading
#   one pipe and then exits, so they are orphans of PID 1; the child closes the pipe (all
#   10,000 end together: a burst of zombies for PID 1) and polls kill(pid, 0) until each pid is
#   gone (a zombie still answers; a fresh PID namespace does not reuse pids this soon). It
#   also reads PID 1's CPU time (/proc/1/schedstat) before and after: unlike the wall time, it
#   does not depend on what else the machine runs.
# - startup: fork, exec, wait of the whole command, so it counts the init's own start, its
#   fork and exec of /bin/true, the reap and its exit.
# - memory in containers: `docker run -d --network none -v FILE:/init:ro --entrypoint /init`
#   of the busybox test image, 20 at once per init, `sleep 3600` as the child. dumb-init is
#   dynamically linked: copies of its libraries made for this run are bind-mounted too, so
#   that the 20 share them as they share the init's file, and nothing else maps them (the
#   host's own libc, mapped by every process, would divide its pages by hundreds). The inits
#   are copies made for this run too: dockerd's docker-init may be tini-static's very file,
#   shared with every `docker run --init` container of the machine. Files of
#   the image itself are not shared between containers on every storage driver
#   (fuse-overlayfs gives each container its own), which is why every file is bind-mounted. Read from the host 2 s after the last start, from
#   /proc/PID/smaps_rollup (Pss) and /proc/PID/status (VmRSS, RssAnon) of each container's
#   PID 1; then `docker kill -s WINCH` (sleep ignores it) to every container, and read again
#   1 s later: the pages the forwarding path touches count too.
set -euo pipefail
cd "$(dirname "$0")/.."
ours=${1:-target/release/docker-link}
[ -x "$ours" ] || { echo "build first: cargo build --release (or pass the binary)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root: unshare --pid for the PID 1 case" >&2; exit 1; }
docker version >/dev/null 2>&1 || { echo "needs a Docker daemon (the memory figures)" >&2; exit 1; }
for p in /usr/bin/tini /usr/bin/tini-static /usr/bin/dumb-init; do
  [ -x "$p" ] || { echo "needs $p (Debian packages tini, dumb-init)" >&2; exit 1; }
done
cc=$(command -v cc || command -v gcc || true)
[ -n "$cc" ] || { echo "needs a C compiler for the measuring helpers" >&2; exit 1; }

tmp=$(mktemp -d)
bench_label=docker-link.bench=init-$$
cleanup() {
  rm -rf "$tmp"
  local ids
  ids=$(docker ps -aq --filter "label=$bench_label" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
}
trap cleanup EXIT
cat > "$tmp/helper.c" <<'C'
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n) {
    qsort(v, n, sizeof *v, cmp64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* recv FIFO N: the init's child. */
static int recv_main(const char *fifo, int n) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = open(fifo, O_WRONLY); /* blocks until the sender opens: ready */
    if (fd < 0) { perror("open fifo"); return 1; }
    for (int i = 0; i < n; i++) {
        siginfo_t info;
        if (sigwaitinfo(&set, &info) < 0) { if (errno == EINTR) { i--; continue; } return 1; }
        int64_t t = now_ns();
        if (write(fd, &t, sizeof t) != sizeof t) return 1;
    }
    return 0;
}

/* send PID FIFO N: prints the median gap in ns. */
static int send_main(pid_t pid, const char *fifo, int n) {
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) { perror("open fifo"); return 1; }
    int64_t *lat = calloc(n, sizeof *lat);
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_ns(), t1;
        if (kill(pid, SIGUSR1) < 0) { perror("kill"); return 1; }
        if (read(fd, &t1, sizeof t1) != sizeof t1) { fprintf(stderr, "receiver gone\n"); return 1; }
        lat[i] = t1 - t0;
    }
    printf("%lld\n", (long long)median(lat, n));
    return 0;
}

/* Nanoseconds PID 1 (the init, in our PID namespace) has spent on a CPU. */
static int64_t cpu_of_pid1(void) {
    long long v = -1;
    FILE *f = fopen("/proc/1/schedstat", "r");
    if (f) { if (fscanf(f, "%lld", &v) != 1) v = -1; fclose(f); }
    return v;
}

/* reap N: the init's child, as PID 1's child. Prints the ns from release to the last reap,
 * and the CPU ns PID 1 spent meanwhile. */
static int reap_main(int n) {
    int gate[2], report[2];
    if (pipe(gate) || pipe(report)) { perror("pipe"); return 1; }
    pid_t mid = fork();
    if (mid == 0) {
        close(gate[1]);
        close(report[0]);
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c == 0) { char b; (void)!read(gate[0], &b, 1); _exit(0); }
            if (c < 0) { perror("fork"); _exit(1); }
            if (write(report[1], &c, sizeof c) != sizeof c) _exit(1);
        }
        _exit(0); /* its children become orphans of PID 1 */
    }
    close(gate[0]);
    close(report[1]);
    pid_t *pids = calloc(n, sizeof *pids);
    int got = 0;
    while (got < n) {
        ssize_t r = read(report[0], pids + got, (size_t)(n - got) * sizeof *pids);
        if (r <= 0) { fprintf(stderr, "the intermediate failed after %d forks\n", got); return 1; }
        got += r / sizeof *pids;
    }
    int st;
    waitpid(mid, &st, 0);
    int64_t c0 = cpu_of_pid1(), t0 = now_ns();
    close(gate[1]); /* the last writer: every child reads EOF and exits */
    for (int i = 0; i < n; i++) {
        while (kill(pids[i], 0) == 0) usleep(50);
    }
    int64_t t1 = now_ns();
    printf("%lld %lld\n", (long long)(t1 - t0), (long long)(cpu_of_pid1() - c0));
    return 0;
}

/* spawn N CMD...: median ns of fork + exec + wait of CMD, stdout and stderr to /dev/null. */
static int spawn_main(int n, char **argv) {
    int64_t *t = calloc(n, sizeof *t);
    int null = open("/dev/null", O_WRONLY);
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        pid_t p = fork();
        if (p == 0) { dup2(null, 1); dup2(null, 2); execv(argv[0], argv); _exit(127); }
        int st;
        waitpid(p, &st, 0);
        t[i] = now_ns() - t0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "%s failed\n", argv[0]); return 1; }
    }
    printf("%lld\n", (long long)median(t, n));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "recv")) return recv_main(argv[2], atoi(argv[3]));
    if (argc >= 5 && !strcmp(argv[1], "send")) return send_main(atoi(argv[2]), argv[3], atoi(argv[4]));
    if (argc >= 3 && !strcmp(argv[1], "reap")) return reap_main(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "spawn")) return spawn_main(atoi(argv[2]), argv + 3);
    fprintf(stderr, "usage: helper recv|send|reap|spawn ...\n");
    return 2;
}
C
"$cc" -O2 -o "$tmp/helper" "$tmp/helper.c"
helper=$tmp/helper

# Each init's command line up to the child's command (tini -s: the same subreaper registration
# ours does outside PID 1, and no warning).
if [ -n "${STATIC_BIN:-}" ]; then
  static=$STATIC_BIN
else
  echo "building the static binary (scripts/build-static)..." >&2
  static=$(scripts/build-static)
fi
declare -A argv=(
  [ours]="$(realpath "$ours") init --"
  [tini]="/usr/bin/tini -s --"
  [dumb-init]="/usr/bin/dumb-init"
  [ours-static]="$(realpath "$static") init --"
  [tini-static]="/usr/bin/tini-static -s --"
)
names=(ours tini dumb-init ours-static tini-static)
declare -A r_rss r_anon r_reap r_cpu r_lat r_start

# --- idle RSS (KiB): VmRSS and its private part (RssAnon) of the sample with the smallest
# VmRSS of 3, each 0.3 s after the start. The rest is file-backed: pages of the binary and its
# libraries that are mapped (shared with the page cache).
rss() {
  local best="" anon="" pid v a
  for _ in 1 2 3; do
    # shellcheck disable=SC2086
    $1 /bin/sleep 30 2>/dev/null &
    pid=$!
    sleep 0.3
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v; anon=$a; fi
  done
  echo "$best $anon"
}
for n in "${names[@]}"; do read -r "r_rss[$n]" "r_anon[$n]" < <(rss "${argv[$n]}"); done

# --- reaping 10,000 orphans as PID 1 (ns, median of 5, runs interleaved): the wall time, and
# the CPU time PID 1 spent meanwhile (robust to the machine's load) ---
declare -A walls cpus r_cpu
for _ in 1 2 3 4 5; do
  for n in "${names[@]}"; do
    # shellcheck disable=SC2086
    read -r w c < <(unshare --pid --fork --mount-proc ${argv[$n]} "$helper" reap 10000)
    walls[$n]="${walls[$n]:-} $w"
    cpus[$n]="${cpus[$n]:-} $c"
  done
done
# shellcheck disable=SC2086
med5() { printf '%s\n' $1 | sort -n | sed -n 3p; }
for n in "${names[@]}"; do
  r_reap[$n]=$(med5 "${walls[$n]}")
  r_cpu[$n]=$(med5 "${cpus[$n]}")
done

# --- signal forward latency (ns, median of 1,000) ---
latency() { # $1: the init's argv, or "" for the floor (no init)
  local fifo=$tmp/fifo pid v
  rm -f "$fifo"
  mkfifo "$fifo"
  # shellcheck disable=SC2086
  $1 "$helper" recv "$fifo" 1000 &
  pid=$!
  v=$("$helper" send "$pid" "$fifo" 1000)
  wait "$pid"
  echo "$v"
}
lat_direct=$(latency "")
for n in "${names[@]}"; do r_lat[$n]=$(latency "${argv[$n]}"); done

# --- startup overhead (ns, median of 300 runs of INIT -- /bin/true) ---
start_floor=$("$helper" spawn 300 /bin/true)
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  r_start[$n]=$("$helper" spawn 300 ${argv[$n]} /bin/true)
done

# --- memory in containers: 20 containers per init, PID 1 from one bind-mounted file ---
image=$(tests/images/build.sh busybox)
peer_libs=()
dumb_init_size=$(stat -c %s /usr/bin/dumb-init)
for lib in $(ldd /usr/bin/dumb-init | grep -o '/[^ ]*'); do
  mkdir -p "$tmp/libs$(dirname "$lib")"
  cp -L "$lib" "$tmp/libs$lib"
  peer_libs+=(-v "$tmp/libs$lib:$lib:ro")
  dumb_init_size=$((dumb_init_size + $(stat -c %s "$tmp/libs$lib")))
done
declare -A m_pss m_rss m_anon m_pss_sig m_rss_sig
# Mean Pss, VmRSS and RssAnon (KiB) of the PID 1 of each container given.
measure() {
  local id pid
  for id in "$@"; do
    pid=$(docker inspect -f '{{.State.Pid}}' "$id")
    printf '%s %s %s\n' \
      "$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")" \
      "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")" \
      "$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")"
  done | awk '{ p += $1; r += $2; a += $3; n++ } END { printf "%.0f %.0f %.0f\n", p / n, r / n, a / n }'
}
containers() { # name, file, extra docker run options (an array's name), the init's arguments
  local name=$1 file=$2 ids=() id _i
  local -n opts=$3
  shift 3
  for _i in $(seq 20); do
    ids+=("$(docker run -d --label "$bench_label" --network none -v "$(realpath "$file"):/init:ro" \
      "${opts[@]}" --entrypoint /init "$image" "$@" sleep 3600)")
  done
  sleep 2
  for id in "${ids[@]}"; do
    [ "$(docker inspect -f '{{.State.Running}}' "$id")" = true ] || { echo "$name: a container is not running" >&2; exit 1; }
  done
  read -r "m_pss[$name]" "m_rss[$name]" "m_anon[$name]" < <(measure "${ids[@]}")
  for id in "${ids[@]}"; do docker kill -s WINCH "$id" >/dev/null; done
  sleep 1
  read -r "m_pss_sig[$name]" "m_rss_sig[$name]" _ < <(measure "${ids[@]}")
  docker rm -f "${ids[@]}" >/dev/null
}
# Copies made for this run: nothing else maps them (dockerd's own docker-init, which other
# containers may be running, can be tini-static itself).
cp "$static" "$tmp/ours-init"
cp /usr/bin/tini-static "$tmp/tini-static"
cp /usr/bin/dumb-init "$tmp/dumb-init"
no_opts=()
containers ours "$tmp/ours-init" no_opts init --
containers tini-static "$tmp/tini-static" no_opts --
containers dumb-init "$tmp/dumb-init" peer_libs

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v / 1e6 }'; }
us() { awk -v v="$1" 'BEGIN { printf "%.1f µs", v / 1e3 }'; }
kib() { echo "$1 KiB"; }
bytes() { echo "$1 B"; }
row() { # label, formatter, ours, tini, dumb-init
  echo "| $1 | $($2 "$3") | $($2 "$4") | $($2 "$5") | $(ratio "$3" "$4") | $(ratio "$3" "$5") |"
}
srow() { # label, formatter, ours static, tini-static
  echo "| $1 | $($2 "$3") | $($2 "$4") | $(ratio "$3" "$4") |"
}
echo "ours: $ours; static: $static"
echo
echo "| what | ours | tini | dumb-init | ours/tini | ours/dumb-init |"
echo "|---|---|---|---|---|---|"
row "idle RSS (VmRSS)" kib "${r_rss[ours]}" "${r_rss[tini]}" "${r_rss[dumb-init]}"
row "of which private (RssAnon)" kib "${r_anon[ours]}" "${r_anon[tini]}" "${r_anon[dumb-init]}"
row "reap 10,000 orphans as PID 1 (median of 5)" ms "${r_reap[ours]}" "${r_reap[tini]}" "${r_reap[dumb-init]}"
row "… CPU time PID 1 spent on it" ms "${r_cpu[ours]}" "${r_cpu[tini]}" "${r_cpu[dumb-init]}"
row "signal forward latency (median of 1,000)" us "${r_lat[ours]}" "${r_lat[tini]}" "${r_lat[dumb-init]}"
row "startup, INIT -- /bin/true (median of 300)" us "${r_start[ours]}" "${r_start[tini]}" "${r_start[dumb-init]}"
echo
echo "| static builds | ours | tini-static | ours/tini-static |"
echo "|---|---|---|---|"
srow "idle RSS (VmRSS)" kib "${r_rss[ours-static]}" "${r_rss[tini-static]}"
srow "of which private (RssAnon)" kib "${r_anon[ours-static]}" "${r_anon[tini-static]}"
srow "reap 10,000 orphans as PID 1" ms "${r_reap[ours-static]}" "${r_reap[tini-static]}"
srow "… CPU time PID 1 spent on it" ms "${r_cpu[ours-static]}" "${r_cpu[tini-static]}"
srow "signal forward latency" us "${r_lat[ours-static]}" "${r_lat[tini-static]}"
srow "startup, INIT -- /bin/true" us "${r_start[ours-static]}" "${r_start[tini-static]}"
srow "file size" bytes "$(stat -c %s "$static")" "$(stat -c %s /usr/bin/tini-static)"
echo
echo "| memory per container: 20 containers, PID 1 from one bind-mounted file (mean) | ours (static) | tini-static | dumb-init | ours/tini-static | ours/dumb-init |"
echo "|---|---|---|---|---|---|"
mrow() { # label, values of ours, tini-static, dumb-init (KiB)
  echo "| $1 | $2 KiB | $3 KiB | $4 KiB | $(ratio "$2" "$3") | $(ratio "$2" "$4") |"
}
mrow "PSS, idle" "${m_pss[ours]}" "${m_pss[tini-static]}" "${m_pss[dumb-init]}"
mrow "PSS, after forwarding a signal" "${m_pss_sig[ours]}" "${m_pss_sig[tini-static]}" "${m_pss_sig[dumb-init]}"
mrow "VmRSS, idle" "${m_rss[ours]}" "${m_rss[tini-static]}" "${m_rss[dumb-init]}"
mrow "VmRSS, after forwarding a signal" "${m_rss_sig[ours]}" "${m_rss_sig[tini-static]}" "${m_rss_sig[dumb-init]}"
mrow "of which private (RssAnon), idle" "${m_anon[ours]}" "${m_anon[tini-static]}" "${m_anon[dumb-init]}"
echo "| file size | $(stat -c %s "$static") B | $(stat -c %s /usr/bin/tini-static) B | $dumb_init_size B (with its libraries) | $(ratio "$(stat -c %s "$static")" "$(stat -c %s /usr/bin/tini-static)") | $(ratio "$(stat -c %s "$static")" "$dumb_init_size") |"
echo
echo "Floors: signal latency with no init in between $(us "$lat_direct"); /bin/true alone $(us "$start_floor")."
