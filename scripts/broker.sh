#!/usr/bin/env bash
# Runs Apache Kafka 4.4.0 from its Maven Central jars (no tarball can be downloaded here) for
# development, tests, the demo and CI.
#
#   scripts/broker.sh install          apt-install Java 17 / Maven if missing; Maven copies the runtime
#                                      closure of scripts/kafka/pom.xml into $WEFT_HOME/tools (once)
#   scripts/broker.sh start [--keep]   one KRaft node (broker + controller) on 127.0.0.1:$WEFT_BROKER_PORT,
#                                      formatted fresh unless --keep (or WEFT_BROKER_KEEP_DATA=1); waits
#                                      until it serves; a second start leaves the running one alone
#   scripts/broker.sh stop | status | logs [N]
#   scripts/broker.sh cluster start|stop|status      three KRaft nodes, replication factor 3,
#   scripts/broker.sh cluster kill N|restart N       min.insync.replicas=2 (N = 1..3)
#   scripts/broker.sh tool <Class> [args]            run one of Kafka's tools (TopicCommand, ConfigCommand,
#                                                    TransactionsCommand, ClusterTool, ConsoleConsumer,
#                                                    ConsumerGroupCommand, ...) with quiet logging
#
# Settings (env):
#   WEFT_HOME                 tools and run state (default ~/.weft)
#   WEFT_BROKER_PORT          single node's client port (default 9092; its controller listens on +1)
#   WEFT_CLUSTER_PORT         first cluster node's client port (default 9092; nodes step by 100:
#                             9092/9192/9292, controllers on +1). Tests use their own so the single node
#                             and the cluster can run side by side.
#   WEFT_BROKER_HEAP          JVM heap per node (default 512m)
#   WEFT_BROKER_KEEP_DATA=1   start keeps the node's data instead of formatting it fresh
#
# Failure modes: a start that does not see "Kafka Server started" in the log within 90 s, or whose
# JVM exits, fails with the log's tail. The port already answering a node not started here is used
# as is (said on stdout). `stop` sends SIGTERM (Kafka's controlled shutdown) and SIGKILLs after 30 s.
set -euo pipefail

KAFKA_VERSION=4.4.0
HERE="$(cd "$(dirname "$0")" && pwd)"
POM="$HERE/kafka/pom.xml"
WEFT_HOME=${WEFT_HOME:-$HOME/.weft}
TOOLS="$WEFT_HOME/tools/kafka-$KAFKA_VERSION"
LIBS="$TOOLS/libs"
RUN="$WEFT_HOME/run"
HEAP=${WEFT_BROKER_HEAP:-512m}
PORT=${WEFT_BROKER_PORT:-9092}
CLUSTER_PORT=${WEFT_CLUSTER_PORT:-9092}

die() { echo "broker.sh: $*" >&2; exit 1; }
say() { echo "broker.sh: $*"; }

# --- install ---------------------------------------------------------------------------------------

pom_stamp() { sha256sum "$POM" | cut -c1-16; }

install() {
  if [ -f "$TOOLS/installed" ] && [ "$(cat "$TOOLS/installed")" = "$(pom_stamp)" ]; then
    return 0
  fi
  mkdir -p "$TOOLS"
  exec 7>"$TOOLS/install.lock"
  flock 7
  if [ -f "$TOOLS/installed" ] && [ "$(cat "$TOOLS/installed")" = "$(pom_stamp)" ]; then
    return 0
  fi
  local need=()
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  local started=$SECONDS tmp="$TOOLS/libs.tmp"
  say "copying Apache Kafka $KAFKA_VERSION's jars from Maven into $LIBS" >&2
  rm -rf "$tmp"
  mkdir -p "$TOOLS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp" >&2 || die "Maven could not resolve $POM"
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "Maven copied no kafka_2.13 jar into $tmp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  write_log4j
  pom_stamp >"$TOOLS/installed"
  say "installed $(ls "$LIBS" | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - started)) s" >&2
}

write_log4j() {
  # Properties format: needs no YAML/Jackson on the classpath. The broker logs INFO to stdout (its
  # log file, where readiness is read); the tools only warn, to stderr.
  cat >"$TOOLS/log4j2-broker.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.channel.name = kafka.network.RequestChannel$
logger.channel.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  cat >"$TOOLS/log4j2-tools.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

java_args() {
  # java_args <heap> <log4j config>: the JVM flags Kafka's own start scripts use, heap bounded
  JAVA_ARGS=("-Xmx$1" "-Xms$1" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true "-Dlog4j2.configurationFile=$2" -cp "$LIBS/*")
}

java_cmd() {
  # java_cmd <heap> <log4j config> <main class> [args]
  java_args "$1" "$2"
  shift 2
  java "${JAVA_ARGS[@]}" "$@"
}

tool() {
  install
  [ $# -ge 1 ] || die "usage: scripts/broker.sh tool <Class> [args]"
  local class=$1
  shift
  case "$class" in
    *.*) ;;
    ConsoleConsumer | ConsoleShareConsumer) class="org.apache.kafka.tools.consumer.$class" ;;
    ConsumerGroupCommand | ShareGroupCommand) class="org.apache.kafka.tools.consumer.group.$class" ;;
    StorageTool) class="kafka.tools.StorageTool" ;;
    *) class="org.apache.kafka.tools.$class" ;;
  esac
  java_cmd 256m "$TOOLS/log4j2-tools.properties" "$class" "$@"
}

# --- one node --------------------------------------------------------------------------------------

# node_config <dir> <node id> <client port> <controller port> <voters|""> <rf> <min isr>
node_config() {
  local dir=$1 id=$2 port=$3 cport=$4 voters=$5 rf=$6 isr=$7
  mkdir -p "$dir"
  {
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    if [ -n "$voters" ]; then
      echo "controller.quorum.voters=$voters"
    else
      echo "controller.quorum.bootstrap.servers=127.0.0.1:$cport"
    fi
    echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    echo "log.dirs=$dir/data"
    echo "num.partitions=1"
    echo "default.replication.factor=$rf"
    echo "min.insync.replicas=$isr"
    echo "offsets.topic.replication.factor=$rf"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$isr"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$isr"
    echo "group.initial.rebalance.delay.ms=0"
    # Topics come from code (weft topics apply): a typo in a topic name is an error, not a new topic.
    echo "auto.create.topics.enable=false"
    echo "broker.session.timeout.ms=6000"
    # KIP-848 groups (group.protocol=consumer): the session timeout is the broker's; 45 s by
    # default would hold a killed member's partitions that long. Same 6 s as weft's classic groups.
    echo "group.consumer.min.session.timeout.ms=6000"
    echo "group.consumer.session.timeout.ms=6000"
    echo "group.consumer.min.heartbeat.interval.ms=1000"
    echo "group.consumer.heartbeat.interval.ms=1500"
    echo "broker.heartbeat.interval.ms=1000"
    # Fewer threads than the defaults: up to four nodes share two cores in tests.
    echo "num.network.threads=2"
    echo "num.io.threads=4"
    echo "background.threads=4"
    echo "num.recovery.threads.per.data.dir=1"
  } >"$dir/server.properties"
}

pid_of() {
  # pid_of <dir>: the node's pid when its JVM is alive
  [ -f "$1/pid" ] || return 1
  local pid
  pid=$(cat "$1/pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch <dir> <cluster id> <standalone:yes|no> <keep:yes|no>: format (unless kept) and start one node
launch() {
  local dir=$1 cid=$2 standalone=$3 keep=$4
  if [ "$keep" = no ] || [ ! -f "$dir/data/meta.properties" ]; then
    rm -rf "$dir/data"
    local args=(format -t "$cid" -c "$dir/server.properties")
    [ "$standalone" = yes ] && args+=(--standalone)
    java_cmd 256m "$TOOLS/log4j2-tools.properties" kafka.tools.StorageTool "${args[@]}" >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log" >&2; die "formatting $dir failed"; }
  fi
  : >"$dir/server.log"
  java_args "$HEAP" "$TOOLS/log4j2-broker.properties"
  # The JVM must not inherit the start/install lock descriptors (it would hold the locks).
  nohup java "${JAVA_ARGS[@]}" "-Dkafka.logs.dir=$dir" kafka.Kafka "$dir/server.properties" \
    >>"$dir/server.log" 2>&1 </dev/null 7>&- 8>&- &
  echo $! >"$dir/pid"
}

# await <dir> <port>: until the node logs that it started and its port accepts connections
await() {
  local dir=$1 port=$2 started=$SECONDS
  while [ $((SECONDS - started)) -lt 90 ]; do
    if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    if ! pid_of "$dir" >/dev/null; then
      tail -30 "$dir/server.log" >&2
      die "the node in $dir exited during start"
    fi
    sleep 0.2
  done
  tail -30 "$dir/server.log" >&2
  die "the node in $dir did not start within 90 s"
}

stop_dir() {
  local dir=$1 pid
  if pid=$(pid_of "$dir"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/pid"
    return 0
  fi
  rm -f "$dir/pid"
  return 1
}

single_dir() { echo "$RUN/kafka-$PORT"; }

start() {
  local keep=no
  [ "${1:-}" = --keep ] && keep=yes
  [ "${WEFT_BROKER_KEEP_DATA:-}" = 1 ] && keep=yes
  install
  local dir pid
  dir=$(single_dir)
  mkdir -p "$dir"
  # One start at a time (every test binary may call start): a second one waits, then finds
  # the node running.
  exec 8>"$dir/start.lock"
  flock 8
  if pid=$(pid_of "$dir"); then
    # A node of ours is alive: wait for it rather than format its directory under it.
    await "$dir" "$PORT"
    say "already running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  elif port_open "$PORT"; then
    say "a broker not started by this script already answers on 127.0.0.1:$PORT; using it"
    return 0
  fi
  local started=$SECONDS
  node_config "$dir" 1 "$PORT" $((PORT + 1)) "" 1 1
  local cid
  cid=$(cat "$dir/cluster.id" 2>/dev/null || true)
  if [ "$keep" = no ] || [ -z "$cid" ]; then
    cid=$(java_cmd 128m "$TOOLS/log4j2-tools.properties" kafka.tools.StorageTool random-uuid)
    echo "$cid" >"$dir/cluster.id"
  fi
  say "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$PORT ($([ "$keep" = yes ] && echo "keeping data" || echo "fresh data"), heap $HEAP), log $dir/server.log"
  launch "$dir" "$cid" yes "$keep"
  await "$dir" "$PORT"
  say "ready (pid $(cat "$dir/pid")) in $((SECONDS - started)) s"
}

stop() {
  if stop_dir "$(single_dir)"; then say "stopped"; else say "not running"; fi
}

status() {
  local pid
  if pid=$(pid_of "$(single_dir)") && port_open "$PORT"; then
    say "running (pid $pid) on 127.0.0.1:$PORT"
  elif port_open "$PORT"; then
    say "a broker answers on 127.0.0.1:$PORT (not started by this script)"
  else
    say "not running"
    return 1
  fi
}

logs() { tail -n "${1:-100}" "$(single_dir)/server.log"; }

# --- three nodes -----------------------------------------------------------------------------------

node_port() { echo $((CLUSTER_PORT + ($1 - 1) * 100)); }
node_dir() { echo "$RUN/cluster-$CLUSTER_PORT/node-$1"; }
voters() {
  local v="" i
  for i in 1 2 3; do v+="${v:+,}$i@127.0.0.1:$(($(node_port "$i") + 1))"; done
  echo "$v"
}

cluster_configure() {
  local i
  for i in 1 2 3; do
    node_config "$(node_dir "$i")" "$i" "$(node_port "$i")" $(($(node_port "$i") + 1)) "$(voters)" 3 2
  done
}

cluster() {
  local cmd=${1:-} n=${2:-} base="$RUN/cluster-$CLUSTER_PORT" i
  case "$cmd" in
    start)
      install
      if pid_of "$(node_dir 1)" >/dev/null && pid_of "$(node_dir 2)" >/dev/null && pid_of "$(node_dir 3)" >/dev/null; then
        say "cluster already running on $(node_port 1),$(node_port 2),$(node_port 3)"
        return 0
      fi
      for i in 1 2 3; do stop_dir "$(node_dir "$i")" || true; done
      # A node that cannot bind dies with a stack trace: name the busy port instead.
      for i in 1 2 3; do
        local p
        for p in "$(node_port "$i")" $(($(node_port "$i") + 1)); do
          port_open "$p" && die "127.0.0.1:$p is already in use by a process this WEFT_HOME ($WEFT_HOME) did not start (a cluster of another checkout?); stop it, or choose other ports with WEFT_CLUSTER_PORT"
        done
      done
      local started=$SECONDS cid
      cluster_configure
      cid=$(java_cmd 128m "$TOOLS/log4j2-tools.properties" kafka.tools.StorageTool random-uuid)
      echo "$cid" >"$base/cluster.id"
      say "starting a three-node Apache Kafka $KAFKA_VERSION cluster on 127.0.0.1:$(node_port 1),$(node_port 2),$(node_port 3)"
      for i in 1 2 3; do launch "$(node_dir "$i")" "$cid" no no; done
      for i in 1 2 3; do await "$(node_dir "$i")" "$(node_port "$i")"; done
      say "cluster ready in $((SECONDS - started)) s (bootstrap $(bootstrap_of_cluster))"
      ;;
    stop)
      for i in 1 2 3; do stop_dir "$(node_dir "$i")" || true; done
      say "cluster stopped"
      ;;
    status)
      local up=0
      for i in 1 2 3; do
        if pid_of "$(node_dir "$i")" >/dev/null && port_open "$(node_port "$i")"; then
          say "node $i running on 127.0.0.1:$(node_port "$i")"
          up=$((up + 1))
        else
          say "node $i down"
        fi
      done
      [ "$up" -gt 0 ]
      ;;
    kill)
      [[ "$n" =~ ^[123]$ ]] || die "usage: scripts/broker.sh cluster kill 1|2|3"
      local pid
      pid=$(pid_of "$(node_dir "$n")") || die "node $n is not running"
      kill -9 "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && die "node $n (pid $pid) did not die within 10 s of SIGKILL"
      rm -f "$(node_dir "$n")/pid"
      say "node $n killed (SIGKILL, pid $pid)"
      ;;
    restart)
      [[ "$n" =~ ^[123]$ ]] || die "usage: scripts/broker.sh cluster restart 1|2|3"
      local dir
      dir=$(node_dir "$n")
      [ -f "$dir/data/meta.properties" ] || die "node $n was never formatted: cluster start first"
      stop_dir "$dir" || true
      # Same command, same directory, never re-formatted: the node rejoins with its data.
      launch "$dir" "$(cat "$base/cluster.id")" no yes
      await "$dir" "$(node_port "$n")"
      say "node $n restarted"
      ;;
    bootstrap) bootstrap_of_cluster ;;
    *) die "usage: scripts/broker.sh cluster start|stop|status|kill N|restart N|bootstrap" ;;
  esac
}

bootstrap_of_cluster() { echo "127.0.0.1:$(node_port 1),127.0.0.1:$(node_port 2),127.0.0.1:$(node_port 3)"; }

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  logs) logs "${2:-100}" ;;
  cluster) cluster "${2:-}" "${3:-}" ;;
  tool) shift; tool "$@" ;;
  *) die "usage: scripts/broker.sh install|start [--keep]|stop|status|logs [N]|cluster ...|tool <Class> [args]" ;;
esac
