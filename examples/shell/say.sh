#!/bin/sh
# Send text to a channel: a JSON string on outbound.discord.{guild}.{channel}.{user}.
#   examples/shell/say.sh 381870553235193857 "hello from the shell"
# The guild and user segments may be 0; only the channel is needed to send text.
set -eu
channel="$1"
text="$2"
json=$(printf '%s' "$text" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
exec redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-7379}" \
  publish "outbound.discord.0.${channel}.0" "\"${json}\""
