#!/bin/sh
# Set the bot's presence on every shard, and print the gateway's first answer:
#   examples/shell/presence.sh dnd "the logs"
# status: online, dnd, idle, invisible or offline. The gateway sends it on each shard, from
# whichever process holds it (docs/topics.md, "A gateway command"). Needs redis-cli and jq.
set -eu
status="$1"
activity="${2:-}"
rc="redis-cli -h ${REDIS_HOST:-127.0.0.1} -p ${REDIS_PORT:-7379}"
reply="inbound.rest.shell-$$.1"
activities=$(jq -cn --arg n "$activity" 'if $n == "" then [] else [{name: $n, type: 0}] end')
payload=$(jq -cn --arg s "$status" --argjson a "$activities" --arg r "$reply" \
  '{command: "update_presence", status: $s, activities: $a, afk: false, since: null, reply_to: $r}')

# Listen for the answer before asking (pub/sub keeps nothing for late listeners).
dir=$(mktemp -d)
mkfifo "$dir/answers"
timeout "${WAIT_S:-15}" $rc --raw subscribe "$reply" > "$dir/answers" &
listener=$!
trap 'kill "$listener" 2>/dev/null; rm -rf "$dir"' EXIT
exec 3< "$dir/answers"
read -r _ <&3 && read -r _ <&3 && read -r _ <&3     # "subscribe", the topic, the count
$rc publish "${OUTBOUND:-outbound.discord}.0.0.0" "$payload" > /dev/null
# a message comes as three lines: "message", the topic, the payload
if ! { read -r _ <&3 && read -r _ <&3 && read -r answer <&3; }; then
  echo "no answer: is a gateway reading ${OUTBOUND:-outbound.discord}.> here?" >&2
  exit 1
fi
echo "$answer"
echo "$answer" | jq -e '.ok' > /dev/null
