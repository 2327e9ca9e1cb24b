#!/bin/sh
# Writes the compose example's secrets into deploy/compose/secrets/, each a
# random value made once (run it again and existing files are kept).
# The containers run as their own users (node, redis) and compose mounts
# file secrets as they are on disk, so the files are readable by others:
# keep this directory on a machine only operators log in to.
set -eu
cd "$(dirname "$0")/secrets"
umask 022
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
for name in admin-token gateway-admin-token redis-password sentinel-password cache-redis-password; do
  [ -s "$name" ] || random > "$name"
done
# Pulseboard reaches the cache through its URL (CACHE_REDIS_URL_FILE), with the cache's password in it.
[ -s cache-redis-url ] || printf 'redis://:%s@cache-redis:6379\n' "$(cat cache-redis-password)" > cache-redis-url
echo "secrets in $(pwd): admin-token is the admin API's bootstrap token"
