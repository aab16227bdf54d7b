#!/usr/bin/env bash
# Fetches, starts, stops and inspects the local single-node Apache Kafka broker (no Docker).
#
#   deploy/local/kafka.sh fetch | up | down | status | logs | tool CLASS ARGS...
#   deploy/local/kafka.sh up-secure | down-secure | status-secure | logs-secure | path-secure
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1),
# KAFKA_HOME_DIR (<repo>/.kafka: jars and data, git-ignored), KAFKA_HEAP (512m),
# KAFKA_START_TIMEOUT (90 seconds).
# The *-secure commands run a second broker with a SASL_SSL listener (SCRAM-SHA-512 and PLAIN,
# TLS with a throw-away CA) on KAFKA_SECURE_PORT (9094) / KAFKA_SECURE_CONTROLLER_PORT (its port + 1);
# see deploy/local/secure.sh.
set -euo pipefail

secure=0
case "${1:-}" in *-secure) secure=1; set -- "${1%-secure}" "${@:2}" ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME_DIR:-$repo/.kafka}
libs=$home/$version/libs
node=$home/node-$port
data=$node/data
pidfile=$node/kafka.pid
template=$here/server.properties.in
if [ "$secure" = 1 ]; then
  port=${KAFKA_SECURE_PORT:-9094}
  cport=${KAFKA_SECURE_CONTROLLER_PORT:-$((port + 1))}
  node=$home/node-secure-$port
  data=$node/data
  pidfile=$node/kafka.pid
  template=$here/server-secure.properties.in
fi
heap=${KAFKA_HEAP:-512m}
timeout=${KAFKA_START_TIMEOUT:-90}

log() { printf 'kafka: %s\n' "$*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is needed to run Kafka"; exit 1; }
  log "resolving Apache Kafka $version jars with Maven into $libs (once)"
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime
  touch "$libs/.complete"
}

# Runs one of Kafka's own Java entry points with the fetched jars, e.g.
#   kafka.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
tool() {
  fetch
  local cls=$1; shift
  java -Xmx256m -Dlog4j2.configurationFile="$here/log4j2-tools.properties" \
    -cp "$libs/*" "$cls" "$@"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

answers() {
  port_open || return 1
  local auth=()
  if [ "$secure" = 1 ]; then auth=(--command-config "$node/tls/admin.properties"); fi
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list \
    "${auth[@]}" >/dev/null 2>&1
}

up() {
  fetch
  mkdir -p "$data"
  if running; then
    if answers; then log "already running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; return 0; fi
    log "pid $(cat "$pidfile") is alive but does not answer; stopping it first"; down
  elif answers; then
    log "another broker already answers on 127.0.0.1:$port; reusing it"; return 0
  fi
  local scram_args=""
  if [ "$secure" = 1 ]; then
    # shellcheck source=deploy/local/secure.sh
    . "$here/secure.sh"
    secure_prepare "$node/tls"  # CA, broker certificate, passwords (first start only)
    # The SCRAM users' passwords go to the storage tool in a Java argument file (mode 600),
    # never on a command line that any user could read in the process list.
    scram_args="$node/tls/scram.args"
    secure_scram_argfile "$node/tls" "$scram_args"
  fi
  sed -e "s#@PORT@#$port#g" -e "s#@CONTROLLER_PORT@#$cport#g" -e "s#@DATA_DIR@#$data#g" \
    -e "s#@TLS_DIR@#$node/tls#g" "$template" > "$node/server.properties"
  if [ "$secure" = 1 ]; then secure_fill "$node/tls" "$node/server.properties"; fi
  if [ ! -f "$data/meta.properties" ]; then
    log "formatting storage in $data"
    local cluster_id
    cluster_id=$(tool kafka.tools.StorageTool random-uuid)
    if [ -n "$scram_args" ]; then
      # java expands an @file that holds the main class and its arguments, so the passwords
      # are in no process's argv.
      (umask 077; printf '%s\n' kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$node/server.properties" | cat - "$scram_args" > "$node/tls/storage.args")
      java -Xmx256m -Dlog4j2.configurationFile="$here/log4j2-tools.properties" \
        -cp "$libs/*" "@$node/tls/storage.args" >/dev/null
      rm -f "$node/tls/storage.args" "$scram_args"
    else
      tool kafka.tools.StorageTool format -t "$cluster_id" -c "$node/server.properties" >/dev/null
    fi
  fi
  # A fresh log, so the readiness check below cannot match the previous run's lines.
  [ -f "$node/server.log" ] && mv -f "$node/server.log" "$node/server.log.prev"
  log "starting broker on 127.0.0.1:$port (log: $node/server.log)"
  # setsid: the broker must outlive the shell (and make) that started it.
  setsid nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$node" -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$node/server.properties" \
    >"$node/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + timeout))
  until grep -q "Kafka Server started" "$node/server.log" 2>/dev/null; do
    if ! running; then log "broker exited; last lines:"; tail -n 30 "$node/stdout.log" "$node/server.log" >&2 || true; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "broker not started after ${timeout}s"; tail -n 30 "$node/server.log" >&2 || true; exit 1; fi
    sleep 0.3
  done
  until answers; do
    if [ $SECONDS -ge $deadline ]; then log "broker does not answer metadata requests after ${timeout}s"; exit 1; fi
    sleep 0.5
  done
  log "ready on 127.0.0.1:$port (pid $(cat "$pidfile")); log: $node/server.log"
}

down() {
  if ! running; then log "not running"; rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  log "stopping broker (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return 0; }
    sleep 0.25
  done
  log "broker did not stop in 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

status() {
  if running && answers; then echo "running (pid $(cat "$pidfile")) on 127.0.0.1:$port"; else echo "not running"; return 1; fi
}

logs() { tail -n "${LINES:-60}" "$node/server.log"; }

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) status ;;
  logs) logs ;;
  tool) shift; tool "$@" ;;
  path) echo "$node" ;;
  *) echo "usage: $0 fetch|up|down|status|logs|path|tool CLASS ARGS..." >&2; exit 2 ;;
esac
