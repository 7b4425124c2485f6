#!/usr/bin/env bash
# Starts what the cluster needs when it is stopped: PostgreSQL (127.0.0.1:5432) and NATS with
# JetStream (127.0.0.1:4222), from Debian's packages. Used by .ci/run and `make cluster-demo`.
# Does nothing to a service that already answers; says so when one cannot be started.
set -uo pipefail

up() {  # host port: does something answer?
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}
wait_up() {  # host port name
  for _ in $(seq 1 60); do up "$1" "$2" && return 0; sleep 0.5; done
  echo "$3 did not come up on $1:$2" >&2
  return 1
}

if ! up 127.0.0.1 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_up 127.0.0.1 5432 PostgreSQL
  else
    echo "PostgreSQL is not running and not installed (apt-get install postgresql)" >&2
  fi
fi
if ! up 127.0.0.1 4222; then
  if [ -x /usr/sbin/nats-server ]; then
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
    wait_up 127.0.0.1 4222 NATS
  else
    echo "NATS is not running and not installed (apt-get install nats-server)" >&2
  fi
fi
exit 0
