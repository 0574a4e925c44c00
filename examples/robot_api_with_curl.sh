#!/usr/bin/env bash
# The documented workflow with curl, against a real OT-2 (robot software 4.x, a P300 Single
# GEN2 on the right mount; the protocols are at API level 2.11) or ot2-sim (--robot-like too):
#   ot2-sim &  examples/robot_api_with_curl.sh [http://127.0.0.1:31950]
# The run is resumed before it is cancelled: cancelling a paused session hangs 4.x for good.
set -euo pipefail
BASE=${1:-http://127.0.0.1:31950}
HERE=$(cd "$(dirname "$0")" && pwd)
P="$HERE/../tests/protocols"
api() { curl -sS --fail-with-body -H 'Opentrons-Version: 2' "$@"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
wait_for() {  # session state
  for _ in $(seq 1 600); do
    now=$(api "$BASE/sessions/$1" | field "['data']['details']['currentState']")
    [ "$now" = "$2" ] && { echo "  session is $2"; return 0; }
    [ "$now" = error ] && { echo "session failed" >&2; return 1; }
    sleep 0.1
  done
  echo "session $1 is $now, not $2" >&2; return 1
}
run() {  # session command
  api -H 'Content-Type: application/json' \
    -d "{\"data\": {\"command\": \"$2\", \"data\": {}}}" "$BASE/sessions/$1/commands/execute" >/dev/null
  echo "  $2"
}
session_for() {
  api -H 'Content-Type: application/json' \
    -d "{\"data\": {\"sessionType\": \"protocol\", \"createParams\": {\"protocolId\": \"$1\"}}}" \
    "$BASE/sessions" | field "['data']['id']"
}

api "$BASE/health" | field "['api_version']"
api -F "protocolFile=@$P/serial_dilution.py" -F "supportFiles=@$P/dilution_helpers.py" \
    -F "supportFiles=@$P/dilution_settings.json" "$BASE/protocols" | field "['data']['errors']"
S=$(session_for serial_dilution)
wait_for "$S" loaded; run "$S" protocol.startRun; wait_for "$S" finished
api -X DELETE "$BASE/sessions/$S" >/dev/null; api -X DELETE "$BASE/protocols/serial_dilution" >/dev/null

api -F "protocolFile=@$P/long_run.py" "$BASE/protocols" >/dev/null
S=$(session_for long_run)
wait_for "$S" loaded; run "$S" protocol.startRun; wait_for "$S" running
run "$S" protocol.pause; wait_for "$S" paused
run "$S" protocol.resume; wait_for "$S" running
run "$S" protocol.cancel; wait_for "$S" stopped
api -X DELETE "$BASE/sessions/$S" >/dev/null; api -X DELETE "$BASE/protocols/long_run" >/dev/null
echo done
