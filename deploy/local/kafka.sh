#!/usr/bin/env bash
# A throw-away single-node Apache Kafka broker (KRaft, broker+controller) for tests and local runs.
#
#   deploy/local/kafka.sh start        resolve jars (cached), format, start, wait until producible;
#                                      prints KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT
#   deploy/local/kafka.sh stop [PORT]  stop the broker on PORT (default: every broker this script started)
#                                      and delete its data
#   deploy/local/kafka.sh stop --keep-data PORT
#                                      stop the broker on PORT (SIGTERM, as an orchestrator would) and keep
#                                      its data and config, for `restart` (fault tests: a broker outage)
#   deploy/local/kafka.sh restart PORT start that stopped broker again on the same address with its data,
#                                      wait until producible; prints KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT
#   deploy/local/kafka.sh status       list brokers (running, dead, or stopped with data kept)
#
# Environment: EVALSTREAM_CACHE (jar cache, default ~/.cache/evalstream),
#              EVALSTREAM_KAFKA_RUN (state + data, default ${TMPDIR:-/tmp}/evalstream-kafka),
#              KAFKA_HEAP_OPTS (default -Xms256m -Xmx768m), KAFKA_START_TIMEOUT (seconds, default 120).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${EVALSTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/evalstream}"
run_root="${EVALSTREAM_KAFKA_RUN:-${TMPDIR:-/tmp}/evalstream-kafka}"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
lib_dir="$cache_root/kafka-$kafka_version/libs"
probe_dir="$cache_root/kafka-$kafka_version/probe"
start_timeout="${KAFKA_START_TIMEOUT:-120}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

require_tools() {
    command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ runtime (e.g. 'apt-get install openjdk-17-jre-headless')"
    local major
    major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)"
    [ -n "$major" ] && [ "$major" -ge 17 ] || die "Kafka $kafka_version needs Java 17 or newer; 'java' is version ${major:-unknown}"
    command -v python3 >/dev/null 2>&1 || die "python3 not found (used to pick free ports)"
}

resolve_jars() {
    [ -f "$lib_dir/.complete" ] && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found: Maven resolves the broker jars from Maven Central (e.g. 'apt-get install maven')"
    echo "kafka.sh: resolving Kafka $kafka_version jars from Maven Central into $lib_dir (first run only)" >&2
    rm -rf "$lib_dir" && mkdir -p "$lib_dir"
    local log="$cache_root/kafka-$kafka_version/maven.log"
    if ! mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$lib_dir" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "Maven could not resolve org.apache.kafka:kafka_2.13:$kafka_version (is Maven Central reachable?); full log: $log"
    fi
    ls "$lib_dir"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven finished but no kafka_2.13 jar is in $lib_dir"
    touch "$lib_dir/.complete"
}

build_probe() {
    [ -f "$probe_dir/ProduceProbe.class" ] && [ "$probe_dir/ProduceProbe.class" -nt "$here/ProduceProbe.java" ] && return 0
    command -v javac >/dev/null 2>&1 || die "javac not found: install a Java 17+ JDK (the readiness probe is compiled once)"
    mkdir -p "$probe_dir"
    javac -d "$probe_dir" -cp "$lib_dir/*" "$here/ProduceProbe.java"
}

free_ports() {
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start() {
    require_tools
    resolve_jars
    build_probe
    local port cport dir
    read -r port cport < <(free_ports)
    mkdir -p "$run_root"
    dir="$run_root/$port"
    rm -rf "$dir" && mkdir -p "$dir/data"
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
    local java_opts cluster_id
    java_options
    cluster_id="$(java -cp "$lib_dir/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/broker.log" | tail -n 1)"
    java -cp "$lib_dir/*" "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$dir/server.properties" >>"$dir/broker.log" 2>&1 \
        || { tail -n 20 "$dir/broker.log" >&2; die "formatting the KRaft storage in $dir/data failed"; }
    launch "$port" || { rm -rf "$dir"; exit 1; }
}

java_options() {
    java_opts=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC -Djava.awt.headless=true
               "-Dlog4j2.configurationFile=$here/log4j2.properties")
}

# Run the broker configured in $run_root/PORT and wait until it takes a produce.
launch() {
    local port="$1" dir="$run_root/$1"
    local java_opts
    java_options
    nohup java -cp "$lib_dir/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" \
        >>"$dir/broker.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/pid"
    rm -f "$dir/stopped"
    local deadline=$((SECONDS + start_timeout))
    until java -cp "$probe_dir:$lib_dir/*" "-Dlog4j2.configurationFile=$here/log4j2.properties" \
            ProduceProbe "127.0.0.1:$port" >>"$dir/probe.log" 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$dir/broker.log" >&2
            echo "kafka.sh: the broker exited during start-up (log above)" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$dir/broker.log" >&2
            kill_pid "$pid"
            echo "kafka.sh: the broker on 127.0.0.1:$port could not take a produce within ${start_timeout}s" >&2
            return 1
        fi
        sleep 1
    done
    echo "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$port"
}

restart() {
    [ $# -eq 1 ] || die "usage: $0 restart PORT"
    local port="$1" dir="$run_root/$1"
    [ -f "$dir/server.properties" ] || die "no broker data kept for port $port (stop it with --keep-data first)"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "the broker on 127.0.0.1:$port is running"
    fi
    require_tools
    launch "$port" || exit 1
}

# SIGTERM (a clean broker shutdown), SIGKILL after 30 s; returns once the process is gone.
kill_pid() {
    local pid="$1"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
}

stop_one() {
    local port="$1" dir="$run_root/$1" keep="${2:-}"
    [ -f "$dir/pid" ] || { echo "kafka.sh: no broker recorded for port $port" >&2; return 1; }
    kill_pid "$(cat "$dir/pid")"
    if [ -n "$keep" ]; then
        touch "$dir/stopped"
    else
        rm -rf "$dir"
    fi
}

stop() {
    if [ "${1:-}" = "--keep-data" ]; then
        [ $# -eq 2 ] || die "usage: $0 stop --keep-data PORT"
        stop_one "$2" keep
        return
    fi
    if [ $# -gt 0 ]; then
        stop_one "$1"
        return
    fi
    [ -d "$run_root" ] || return 0
    local d
    for d in "$run_root"/*/; do
        [ -f "$d/pid" ] && stop_one "$(basename "$d")"
    done
    return 0
}

status() {
    [ -d "$run_root" ] || return 0
    local d
    for d in "$run_root"/*/; do
        [ -f "$d/pid" ] || continue
        local pid; pid="$(cat "$d/pid")"
        if kill -0 "$pid" 2>/dev/null; then echo "127.0.0.1:$(basename "$d") pid $pid running"
        elif [ -f "$d/stopped" ]; then echo "127.0.0.1:$(basename "$d") stopped, data kept"
        else echo "127.0.0.1:$(basename "$d") pid $pid dead"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) shift; stop "$@" ;;
    restart) shift; restart "$@" ;;
    status) status ;;
    *) echo "usage: $0 start | stop [PORT] | stop --keep-data PORT | restart PORT | status" >&2; exit 2 ;;
esac
