#!/bin/sh
# Starts one Redis of the deploy examples (docker compose and Kubernetes)
# through the official redis image's entry point (which drops to the redis
# user when started as root), with the passwords from the mounted secrets
# (SECRETS_DIR) written into a config file under /data (mode 600), never
# onto a command line.
#   redis-start.sh redis      a data node of the control plane (NODE_NAME, INITIAL_PRIMARY, SENTINELS)
#   redis-start.sh sentinel   a Sentinel of the control plane (NODE_NAME, SENTINELS)
#   redis-start.sh cache      the gateway's cache
# deploy/kubernetes/redis.yaml carries a copy of this file; test/unit/deploy-manifests.test.ts keeps them equal.
set -eu
umask 077
here=/etc/pulseboard
secrets=${SECRETS_DIR:-/run/secrets}
secret() { tr -d '\r\n' < "$secrets/$1"; }
master=$(awk '$1 == "sentinel" && $2 == "monitor" { print $3 }' "$here/sentinel.conf")

# The primary the Sentinels name now; empty when none answers (the group's first start).
current_primary() {
  for sentinel in ${SENTINELS:-}; do
    answer=$(REDISCLI_AUTH=$(secret sentinel-password) redis-cli -h "$sentinel" -p 26379 --raw \
      sentinel get-master-addr-by-name "$master" 2>/dev/null | head -n 1) || true
    case "$answer" in
      "" | *" "* | *ERR* | *NOAUTH*) continue ;;
      *) echo "$answer"; return 0 ;;
    esac
  done
}

case "$1" in
  redis)
    # A node that was primary before a restart comes back as a replica of
    # whichever node the Sentinels promoted meanwhile, never as a second primary.
    primary=$(current_primary)
    primary=${primary:-$INITIAL_PRIMARY}
    {
      cat "$here/redis.conf"
      echo "requirepass \"$(secret redis-password)\""
      echo "masterauth \"$(secret redis-password)\""
      echo "replica-announce-ip $NODE_NAME"
      if [ "$primary" != "$NODE_NAME" ]; then echo "replicaof $primary 6379"; fi
    } > /data/redis.conf
    exec docker-entrypoint.sh redis-server /data/redis.conf
    ;;
  sentinel)
    # A Sentinel keeps what it learnt (replicas, other Sentinels, epochs) in
    # its file; it is written once, from the template, on the first start.
    conf=/data/sentinel.conf
    if [ ! -s "$conf" ]; then
      primary=$(current_primary)
      {
        if [ -n "$primary" ]; then
          sed "s/^sentinel monitor \([^ ]*\) [^ ]* /sentinel monitor \1 $primary /" "$here/sentinel.conf"
        else
          cat "$here/sentinel.conf"
        fi
        echo "sentinel auth-pass $master \"$(secret redis-password)\""
        echo "requirepass \"$(secret sentinel-password)\""
        echo "sentinel sentinel-pass \"$(secret sentinel-password)\""
        echo "sentinel announce-ip $NODE_NAME"
      } > "$conf"
    fi
    exec docker-entrypoint.sh redis-server "$conf" --sentinel
    ;;
  cache)
    { cat "$here/cache-redis.conf"; echo "requirepass \"$(secret cache-redis-password)\""; } > /data/cache-redis.conf
    exec docker-entrypoint.sh redis-server /data/cache-redis.conf
    ;;
  *)
    echo "redis-start.sh: expected redis, sentinel or cache, got \"$1\"" >&2
    exit 2
    ;;
esac
