#!/bin/sh
# Watch events: every inbound Discord event, or those matching a Redis glob.
#   examples/shell/watch.sh                                  # everything
#   examples/shell/watch.sh 'inbound.discord.81384788765712384.*'   # one guild
# REDIS_PORT defaults to the embedded broker's RESP port, 7379.
exec redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-7379}" --raw \
  psubscribe "${1:-inbound.discord.*}"
