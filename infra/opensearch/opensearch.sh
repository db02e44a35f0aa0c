#!/usr/bin/env bash
# Local OpenSearch 2.19 for jetlog, assembled from Maven Central (no Docker, no tarball).
#
# usage: infra/opensearch/opensearch.sh <command> [args]
#
#   build           resolve the jars (Maven, cached in ~/.m2) and compile the launcher;
#                   skipped when pom.xml and src/ are unchanged since the last build
#   up              build if needed, start the node(s) in the background and wait for health
#   down            stop every node started from OPENSEARCH_HOME_DIR (TERM, then KILL)
#   status          show the nodes and the cluster health; exit 0 only if the cluster answers
#   wait            wait for cluster health (same check as up)
#   logs [N] [-f]   last lines of node N's log (all nodes without N); -f follows
#   stop-one N      stop node N only (its data stays)
#   start-one N     start node N again on its data and wait for cluster health
#   clean           down, then delete the nodes' data and logs (keeps the build)
#
# Environment (defaults in brackets):
#   OPENSEARCH_HOME_DIR        data, logs and pid files [<repo>/build/opensearch]
#   OPENSEARCH_BUILD_DIR       compiled launcher + jars [<repo>/build/opensearch-dist]
#   OPENSEARCH_PORT            HTTP port of node 1; node n uses PORT+n-1 [9200]
#   OPENSEARCH_TRANSPORT_PORT  transport port of node 1 [9300]
#   OPENSEARCH_NODES           nodes in the cluster [1]
#   OPENSEARCH_HEAP            heap per node (-Xms/-Xmx) [512m]
#   OPENSEARCH_WAIT_SECONDS    how long up/wait/start-one wait for health [120]
#   OPENSEARCH_WAIT_STATUS     health to wait for [yellow with 1 node, green with more]
#   OPENSEARCH_STOP_SECONDS    how long down waits after SIGTERM before SIGKILL [30]
#   OPENSEARCH_JAVA_OPTS       extra JVM flags, appended
#   OPENSEARCH_SETTINGS        extra node settings, space separated key=value pairs
#   OPENSEARCH_JAVA_HOME       the JDK to use; otherwise a Java 17 is searched for
#                              (JAVA_HOME, PATH, /usr/lib/jvm), then any Java 11-21
#   MVN                        the Maven command [mvn]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

BASE=${OPENSEARCH_HOME_DIR:-$REPO_ROOT/build/opensearch}
DIST=${OPENSEARCH_BUILD_DIR:-$REPO_ROOT/build/opensearch-dist}
PORT=${OPENSEARCH_PORT:-9200}
TPORT=${OPENSEARCH_TRANSPORT_PORT:-9300}
NODES=${OPENSEARCH_NODES:-1}
HEAP=${OPENSEARCH_HEAP:-512m}
WAIT_SECONDS=${OPENSEARCH_WAIT_SECONDS:-120}
STOP_SECONDS=${OPENSEARCH_STOP_SECONDS:-30}
[[ $BASE == /* ]] || BASE=$PWD/$BASE
[[ $DIST == /* ]] || DIST=$PWD/$DIST
HOST=127.0.0.1
LOG_LINES=80
MAIN_CLASS=dev.jetlog.opensearch.Launcher

if [[ $NODES -gt 1 ]]; then
  WAIT_STATUS=${OPENSEARCH_WAIT_STATUS:-green}
else
  WAIT_STATUS=${OPENSEARCH_WAIT_STATUS:-yellow}
fi

# All nodes of an N-node cluster live under one folder, so a 1-node and a
# 3-node cluster never share data (their cluster state is incompatible).
CLUSTER_DIR=$BASE/nodes-$NODES

say() { printf 'opensearch: %s\n' "$*"; }
die() { printf 'opensearch: error: %s\n' "$*" >&2; exit 1; }

check_number() { # name value
  [[ $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || die "$1 must be a whole number >= 1, got '$2'"
}
check_number OPENSEARCH_PORT "$PORT"
check_number OPENSEARCH_TRANSPORT_PORT "$TPORT"
check_number OPENSEARCH_NODES "$NODES"
check_number OPENSEARCH_WAIT_SECONDS "$WAIT_SECONDS"
check_number OPENSEARCH_STOP_SECONDS "$STOP_SECONDS"
[[ $HEAP =~ ^[0-9]+[kKmMgG]$ ]] || die "OPENSEARCH_HEAP must look like 512m or 1g, got '$HEAP'"
[[ $WAIT_STATUS =~ ^(green|yellow)$ ]] || die "OPENSEARCH_WAIT_STATUS must be green or yellow, got '$WAIT_STATUS'"

node_dir() { echo "$CLUSTER_DIR/n$1"; }
pid_file() { echo "$CLUSTER_DIR/n$1/node.pid"; }
console_log() { echo "$CLUSTER_DIR/n$1/logs/console.log"; }
http_port() { echo $((PORT + $1 - 1)); }

# ---------------------------------------------------------------- locking

# Serialises build/up/down/start-one between concurrent callers (parallel test
# packages). Without flock (macOS) callers are simply not serialised.
take_lock() { # file
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  if command -v flock >/dev/null 2>&1; then
    flock -w "$((WAIT_SECONDS + 300))" 9 || die "could not lock $1 within $((WAIT_SECONDS + 300))s"
  fi
}

# ---------------------------------------------------------------- java

java_major() { # java binary -> major version (8, 11, 17, ...) or nothing
  local v
  v=$("$1" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}') || return 0
  v=${v#1.}
  echo "${v%%[.+-]*}"
}

find_java() {
  if [[ -n ${OPENSEARCH_JAVA_HOME:-} ]]; then
    [[ -x $OPENSEARCH_JAVA_HOME/bin/java ]] || die "OPENSEARCH_JAVA_HOME=$OPENSEARCH_JAVA_HOME has no bin/java"
    JAVA=$OPENSEARCH_JAVA_HOME/bin/java
    return
  fi
  local candidates=() c m fallback="" seen=" "
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*17*/bin/java /usr/lib/jvm/*/bin/java \
    /Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java; do
    [[ -x $c ]] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    [[ -x $c && $seen != *" $c "* ]] || continue
    seen+="$c "
    m=$(java_major "$c")
    if [[ $m == 17 ]]; then
      JAVA=$c
      return
    fi
    if [[ -z $fallback && -n $m && $m -ge 11 && $m -le 21 ]]; then fallback=$c; fi
  done
  [[ -n $fallback ]] || die "no Java 11-21 found (OpenSearch 2.19 wants Java 17); set OPENSEARCH_JAVA_HOME"
  JAVA=$fallback
}

java_home_of() { # java binary -> its java.home
  "$1" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/^ *java.home = / {print $2; exit}'
}

# ---------------------------------------------------------------- build

checksum() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi
}

source_stamp() { # what the build depends on: pom, sources, JDK major
  (
    cd "$SCRIPT_DIR"
    find pom.xml src -type f | LC_ALL=C sort | while IFS= read -r f; do
      printf '%s ' "$f"
      checksum <"$f"
    done
    echo "java $(java_major "$JAVA")"
  ) | checksum | awk '{print $1}'
}

build_is_current() {
  [[ -f $DIST/stamp && -d $DIST/classes && -d $DIST/lib ]] && [[ $(cat "$DIST/stamp") == "$(source_stamp)" ]]
}

build() {
  find_java
  if build_is_current; then
    return 0
  fi
  take_lock "$DIST.lock"
  if build_is_current; then # another caller built it while we waited
    return 0
  fi
  local mvn=${MVN:-mvn} tmp="$DIST.tmp" t0=$SECONDS
  command -v "$mvn" >/dev/null 2>&1 || die "Maven ('$mvn') not found on PATH; install Maven 3.6+ or set MVN"
  say "building the launcher with Maven (jars come from Maven Central, cached in ~/.m2)"
  rm -rf "$tmp"
  # Maven 3.8 prints colour resets even with -q -B: keep its output in a file
  # and show it only when the build fails.
  if ! JAVA_HOME=$(java_home_of "$JAVA") "$mvn" -q -B -f "$SCRIPT_DIR/pom.xml" \
    "-Djetlog.build.dir=$tmp" compile dependency:copy-dependencies >"$DIST.build.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$DIST.build.log" >&2
    die "Maven build failed (output above, also in $DIST.build.log); $DIST is unchanged"
  fi
  source_stamp >"$tmp/stamp"
  rm -rf "$DIST.old"
  [[ -d $DIST ]] && mv "$DIST" "$DIST.old"
  mv "$tmp" "$DIST"
  rm -rf "$DIST.old"
  say "built in $((SECONDS - t0))s: $(find "$DIST/lib" -name '*.jar' | wc -l | tr -d ' ') jars in $DIST/lib"
}

# ---------------------------------------------------------------- http

# http_get PORT PATH: prints the response body; fails when nothing answers.
# Uses curl when present, else bash's /dev/tcp.
http_get() {
  if command -v curl >/dev/null 2>&1; then
    curl -s -m 10 "http://$HOST:$1$2"
    return
  fi
  local resp
  resp=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$HOST/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$HOST" >&3
    cat <&3
  ) || return 1
  printf '%s\n' "${resp#*$'\r\n\r\n'}"
}

# health PORT: prints the health JSON once the wanted status and node count are
# reached (waits up to 2 s inside OpenSearch); fails otherwise.
health() {
  local body
  body=$(http_get "$1" "/_cluster/health?wait_for_status=$WAIT_STATUS&wait_for_nodes=$NODES&timeout=2s") || return 1
  [[ $body == *'"timed_out":false'* ]] || return 1
  printf '%s\n' "$body"
}

json_field() { # json name -> value (strings unquoted); enough for health output
  sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"
}

# ---------------------------------------------------------------- processes

# node_pid N: prints the pid of node N if it runs (and is really our launcher).
node_pid() {
  local f pid args
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
  [[ $args == *"$MAIN_CLASS"* && $args == *"$CLUSTER_DIR"* ]] || return 1
  echo "$pid"
}

start_node() { # N
  local n=$1 dir log
  dir=$(node_dir "$n")
  log=$(console_log "$n")
  mkdir -p "$dir/logs" "$dir/tmp"
  rm -f "$dir/logs/http.ports" "$dir/logs/transport.ports"
  [[ -f $log ]] && mv -f "$log" "$log.1"

  # shellcheck disable=SC2054 # the comma in SPI,COMPAT is part of the value
  local jvm=(
    "-Xms$HEAP" "-Xmx$HEAP" -Xss1m
    -XX:+UseG1GC -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30
    -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow
    "-XX:ErrorFile=$dir/logs/hs_err_pid%p.log"
    -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
    -Djava.locale.providers=SPI,COMPAT
    -Dlog4j2.formatMsgNoLookups=true -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0
    "-Djava.io.tmpdir=$dir/tmp"
  )
  # shellcheck disable=SC2206 # word splitting is the point
  [[ -n ${OPENSEARCH_JAVA_OPTS:-} ]] && jvm+=($OPENSEARCH_JAVA_OPTS)

  local args=(
    --base-dir "$CLUSTER_DIR" --node "$n" --nodes "$NODES"
    --http-port "$PORT" --transport-port "$TPORT" --host "$HOST"
  )
  local kv
  for kv in ${OPENSEARCH_SETTINGS:-}; do args+=(-E "$kv"); done

  # stdin/stdout/stderr and the lock descriptor must not stay attached to the
  # caller, or a caller waiting on our output (make, go test) would hang.
  nohup "$JAVA" "${jvm[@]}" -cp "$DIST/classes:$DIST/lib/*" "$MAIN_CLASS" "${args[@]}" \
    </dev/null >"$log" 2>&1 9>&- &
  echo $! >"$(pid_file "$n")"
  say "started node n$n (pid $!, http $HOST:$(http_port "$n"), log $log)"
}

print_log_tail() { # N...
  local n log
  for n in "$@"; do
    log=$(console_log "$n")
    [[ -f $log ]] || continue
    printf '\n----- last %d lines of %s -----\n' "$LOG_LINES" "$log" >&2
    tail -n "$LOG_LINES" "$log" >&2
  done
}

# wait_healthy N...: waits until one of the cluster's nodes reports the wanted
# health with NODES nodes; fails early if a started node dies.
wait_healthy() {
  local deadline=$((SECONDS + WAIT_SECONDS)) n body
  while :; do
    for n in "$@"; do
      if ! node_pid "$n" >/dev/null; then
        say "node n$n exited during start-up" >&2
        print_log_tail "$n"
        return 1
      fi
    done
    for ((n = 1; n <= NODES; n++)); do
      if body=$(health "$(http_port "$n")"); then
        HEALTH_BODY=$body
        return 0
      fi
    done
    if ((SECONDS >= deadline)); then
      say "no $WAIT_STATUS health with $NODES node(s) after ${WAIT_SECONDS}s (OPENSEARCH_WAIT_SECONDS)" >&2
      body=$(http_get "$PORT" /_cluster/health 2>/dev/null) && say "last health: $body" >&2
      if [[ $# -gt 0 ]]; then
        print_log_tail "$@"
      else
        for ((n = 1; n <= NODES; n++)); do print_log_tail "$n"; done
      fi
      return 1
    fi
    sleep 1
  done
}

report_up() { # seconds [verb]
  say "${2:-up in} ${1}s: http://$HOST:$PORT cluster $(json_field "$HEALTH_BODY" cluster_name)," \
    "status $(json_field "$HEALTH_BODY" status), $(json_field "$HEALTH_BODY" number_of_nodes) node(s)"
}

# ---------------------------------------------------------------- commands

cmd_build() { build; say "build is current: $DIST"; }

cmd_up() {
  local t0=$SECONDS n started=()
  if HEALTH_BODY=$(health "$PORT"); then
    say "already up: http://$HOST:$PORT answers with status $(json_field "$HEALTH_BODY" status)," \
      "$(json_field "$HEALTH_BODY" number_of_nodes) node(s)"
    return 0
  fi
  build
  say "java: $JAVA (Java $(java_major "$JAVA")), heap $HEAP per node"
  take_lock "$BASE/.lock"
  if HEALTH_BODY=$(health "$PORT"); then # another caller started it while we waited
    say "already up: http://$HOST:$PORT"
    return 0
  fi
  for ((n = 1; n <= NODES; n++)); do
    if node_pid "$n" >/dev/null; then continue; fi
    start_node "$n"
    started+=("$n")
  done
  [[ ${#started[@]} -gt 0 ]] || say "all $NODES node(s) already running; waiting for health"
  wait_healthy ${started[@]+"${started[@]}"} || die "OpenSearch did not become healthy; see the log above ($0 logs)"
  report_up $((SECONDS - t0))
}

cmd_wait() {
  find_java
  local t0=$SECONDS
  wait_healthy || die "OpenSearch is not healthy"
  report_up $((SECONDS - t0)) "healthy after"
}

# stop_pids PID...: SIGTERM, wait up to STOP_SECONDS, then SIGKILL.
stop_pids() {
  local pid deadline=$((SECONDS + STOP_SECONDS)) alive
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  while :; do
    alive=()
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [[ ${#alive[@]} -eq 0 ]] && return 0
    if ((SECONDS >= deadline)); then
      say "still running after ${STOP_SECONDS}s, sending SIGKILL to ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
}

cmd_down() {
  take_lock "$BASE/.lock"
  local cdir f n pids=() files=() pid
  for cdir in "$BASE"/nodes-*; do
    [[ -d $cdir ]] || continue
    for f in "$cdir"/n*/node.pid; do
      [[ -f $f ]] || continue
      n=${f%/node.pid}
      n=${n##*/n}
      if pid=$(CLUSTER_DIR=$cdir node_pid "$n"); then
        pids+=("$pid")
        say "stopping ${cdir##*/}/n$n (pid $pid)"
      fi
      files+=("$f")
    done
  done
  if [[ ${#pids[@]} -gt 0 ]]; then
    stop_pids "${pids[@]}"
    say "stopped ${#pids[@]} node(s)"
  else
    say "no node running from $BASE"
  fi
  [[ ${#files[@]} -gt 0 ]] && rm -f "${files[@]}"
  return 0
}

node_arg() { # value -> validated node number
  [[ ${1:-} =~ ^[0-9]+$ && $1 -ge 1 && $1 -le $NODES ]] || die "want a node number 1..$NODES (OPENSEARCH_NODES=$NODES), got '${1:-}'"
  echo "$1"
}

cmd_stop_one() {
  local n pid
  n=$(node_arg "${1:-}")
  take_lock "$BASE/.lock"
  if pid=$(node_pid "$n"); then
    say "stopping n$n (pid $pid)"
    stop_pids "$pid"
  else
    say "n$n is not running"
  fi
  rm -f "$(pid_file "$n")"
}

cmd_start_one() {
  local n t0=$SECONDS
  n=$(node_arg "${1:-}")
  build
  take_lock "$BASE/.lock"
  if node_pid "$n" >/dev/null; then
    say "n$n is already running"
    wait_healthy || die "OpenSearch is not healthy"
  else
    start_node "$n"
    wait_healthy "$n" || die "n$n did not come back; see the log above"
  fi
  report_up $((SECONDS - t0))
}

cmd_status() {
  local cdir f n pid port body rc=1 any=0
  for cdir in "$BASE"/nodes-*; do
    [[ -d $cdir ]] || continue
    for f in "$cdir"/n*/; do
      n=${f%/}
      n=${n##*/n}
      [[ $n =~ ^[0-9]+$ ]] || continue
      any=1
      if pid=$(CLUSTER_DIR=$cdir node_pid "$n"); then
        port=$(cat "$cdir/n$n/logs/http.ports" 2>/dev/null || echo "starting")
        say "${cdir##*/}/n$n running, pid $pid, http $port"
      else
        say "${cdir##*/}/n$n stopped"
      fi
    done
  done
  [[ $any -eq 1 ]] || say "no node data under $BASE"
  if body=$(http_get "$PORT" /_cluster/health 2>/dev/null) && [[ $body == *'"status"'* ]]; then
    say "http://$HOST:$PORT health: $body"
    [[ $body == *'"status":"red"'* ]] || rc=0
  else
    say "nothing answers on http://$HOST:$PORT"
  fi
  return $rc
}

cmd_logs() {
  local follow=0 nodes=() a n logs=()
  for a in "$@"; do
    if [[ $a == -f ]]; then follow=1; else nodes+=("$(node_arg "$a")"); fi
  done
  if [[ ${#nodes[@]} -eq 0 ]]; then
    for ((a = 1; a <= NODES; a++)); do nodes+=("$a"); done
  fi
  for n in "${nodes[@]}"; do
    [[ -f $(console_log "$n") ]] && logs+=("$(console_log "$n")")
  done
  [[ ${#logs[@]} -gt 0 ]] || die "no log yet under $CLUSTER_DIR"
  if [[ $follow -eq 1 ]]; then
    exec tail -n "$LOG_LINES" -F "${logs[@]}"
  fi
  tail -n "$LOG_LINES" "${logs[@]}"
}

cmd_clean() {
  cmd_down
  local cdir
  for cdir in "$BASE"/nodes-*; do
    [[ -d $cdir ]] || continue
    rm -rf "$cdir"
    say "deleted $cdir"
  done
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    wait) cmd_wait ;;
    logs) cmd_logs "$@" ;;
    stop-one) cmd_stop_one "$@" ;;
    start-one) cmd_start_one "$@" ;;
    clean) cmd_clean ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
