#!/usr/bin/env bash
# scaleout.sh: the chat figure of issue 14, "1 gate + 1 game against
# 2 gates + 2 games" on this machine. It builds goworldctl and the chat demo,
# starts one redis-server (the recommended persistence: appendonly yes,
# appendfsync everysec) on a free loopback port, and two clusters on it
# with their own key prefixes:
#   one: dispatcher1, game1, gate1
#   two: dispatcher1, game1, game2, gate1, gate2
# then runs `goworldctl bench` chat against them in turn (two with
# -all-gates: client i on gate i mod 2), ROUNDS times, so that the two are
# compared side by side on a noisy machine. Everything it started is
# stopped at the end: the clusters with goworldctl stop, redis-server by
# the PID it got when it started it.
#
#   CLIENTS=1000 DURATION=20s ROUNDS=3 tools/benchscripts/scaleout.sh
#
# Needs Go and redis-server. Binds only to 127.0.0.1.
set -euo pipefail
clients=${CLIENTS:-1000}
duration=${DURATION:-20s}
rounds=${ROUNDS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d -t goworld-scaleout-XXXXXX)
redis_pid=
cleanup() {
  for d in one two; do
    [ -f "$work/$d/config.ini" ] && "$work/goworldctl" stop "$work/$d" >/dev/null 2>&1 || true
  done
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/goworldctl" ./tools/goworldctl && go build -o "$work/chat" ./examples/chatroom_demo)

# A free port: ask the kernel for one, then give it to redis-server.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/redis"
redis-server --bind 127.0.0.1 --port "$port" --dir "$work/redis" --save '' \
  --appendonly yes --appendfsync everysec --daemonize no --logfile "$work/redis/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null

cluster() { # cluster NAME GAMES GATES
  local d="$work/$1"
  mkdir -p "$d/bin"
  cp "$work/chat" "$d/bin/$1" # goworldctl runs bin/<directory name>
  {
    printf '[dispatcher1]\nlisten_addr = 127.0.0.1:0\n\n[game_common]\nboot_entity = Account\n\n'
    for i in $(seq "$2"); do printf '[game%d]\n\n' "$i"; done
    for i in $(seq "$3"); do printf '[gate%d]\nlisten_addr = 127.0.0.1:0\n\n' "$i"; done
    printf '[storage]\ntype = redis\naddr = 127.0.0.1:%s\nkey_prefix = %s:\n' "$port" "$1"
  } >"$d/config.ini"
  "$work/goworldctl" start -no-build "$d"
}
cluster one 1 1
cluster two 2 2

for r in $(seq "$rounds"); do
  echo "== round $r: one (1 gate + 1 game)"
  "$work/goworldctl" bench -clients "$clients" -duration "$duration" "$work/one" || true
  echo "== round $r: two (2 gates + 2 games, -all-gates)"
  "$work/goworldctl" bench -clients "$clients" -duration "$duration" -all-gates "$work/two" || true
done
