#!/bin/sh
# The ,echo bot in one pipeline: redis-cli watches, jq picks ,echo messages and builds the
# answer, redis-cli publishes it. Needs redis-cli and jq.
#   examples/shell/echo.sh
R="redis-cli -h ${REDIS_HOST:-127.0.0.1} -p ${REDIS_PORT:-7379}"
$R --raw psubscribe 'inbound.discord.*' | while read -r kind; do
  if [ "$kind" = psubscribe ]; then echo "watching inbound.discord.*" >&2; fi
  [ "$kind" = pmessage ] || continue
  read -r _pattern; read -r topic; read -r payload
  printf '%s' "$payload" | jq -ce 'select(.t == "MESSAGE_CREATE" and (.d.author.bot | not)
      and (.d.content | startswith(",echo ")))
    | {content: ("ok, you said: " + (.d.content | ltrimstr(",echo "))),
       message_reference: {message_id: .d.id}}' 2>/dev/null \
  | while read -r answer; do
      $R publish "outbound.${topic#inbound.}" "$answer" >/dev/null
    done
done
