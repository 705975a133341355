#!/usr/bin/env bash
# An acknowledging consumer for pgsync-stream (format native) in plain bash: appends every record
# to OUTPUT, and after each commit record makes OUTPUT durable (fdatasync) before appending the
# commit's end_lsn to ACK_FILE.
#
#   pgsync-stream -d chat -S chat_slot -P chat_pub --ack-file ack.lsn |
#       examples/stream/consumer.sh ack.lsn changes.ndjson
#
# After a crash pgsync-stream sends again what was not acknowledged, so OUTPUT may hold a
# transaction twice: deduplicate downstream by (commit_lsn, seq). A transaction cut off by the
# crash has no commit line in OUTPUT.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: consumer.sh ACK_FILE OUTPUT" >&2
  exit 2
fi
ack_file=$1 output=$2

exec 3>>"$output"
commit_re='^\{"op":"commit",.*"end_lsn":"([0-9A-F]+/[0-9A-F]+)"'
while IFS= read -r line; do
  printf '%s\n' "$line" >&3
  if [[ $line =~ $commit_re ]]; then
    sync --data -- "$output"                    # the transaction is on disk...
    printf '%s\n' "${BASH_REMATCH[1]}" >>"$ack_file"   # ...so acknowledge it
  fi
done
