#!/bin/sh
# Starts a throwaway PostgreSQL (Debian's `postgresql` package) on 127.0.0.1:PORT with its data
# under DIR, as the `postgres` user when run as root (the server refuses to run as root), and
# leaves behind a watcher that stops it and removes DIR once process WATCH_PID has ended.
# Usage: postgres.sh DIR PORT WATCH_PID
set -eu
dir=$1 port=$2 watch=$3
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as=""
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as="runuser -u postgres --"
fi
$as "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# Durable commits as in production (fsync on); small shared buffers for a 2-core CI machine.
$as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 -c shared_buffers=128MB" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
nohup sh -c "while kill -0 $watch 2>/dev/null; do sleep 1; done
    $as '$bin/pg_ctl' -D '$dir/data' -m immediate stop >/dev/null 2>&1
    rm -rf '$dir'" >/dev/null 2>&1 &
