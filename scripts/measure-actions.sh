#!/usr/bin/env bash
# Measures reboot and live resize (POST/PATCH → action `completed`) against a running local API with
# the simulator's delays at zero. Polls every 50 ms, so run the API with a raised rate limit:
#   Auth__RateLimit__PerMinute=100000 Auth__RateLimit__PerHour=1000000 ./scripts/run-local.sh
# Knobs: REBOOTS=20, RESIZES=20 (0: none), PLAN=s-2vcpu-4gb (the resize target; droplets start as s-1vcpu-1gb), KEEP=1
# (keep the droplets, to look at a failure).
# Usage: DROPLETS_TOKEN=<token> scripts/measure-actions.sh [api=http://localhost:7071] [simulator=http://127.0.0.1:8001]
set -euo pipefail
api=${1:-http://localhost:7071}/api/v1
sim=${2:-http://127.0.0.1:8001}
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
curl -sf -X PATCH "$sim/simulator/options" -H 'content-type: application/json' \
  -d "{\"importDelay\":\"00:00:00\",\"bootDelay\":\"00:00:00\",\"stopDelay\":\"00:00:00\",\"hotplugDelay\":\"${HOTPLUG_DELAY:-00:00:00}\",\"expandDelay\":\"00:00:00\"}" >/dev/null
project="bench_$(date +%s)"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
field() { sed -E "s/.*\"$1\":\"?([^\",}]*)\"?.*/\1/"; }
summary() { sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, max %d (n=%d)", a[1], a[int((NR+1)/2)], a[NR], NR}'; }
get() {
  local body code
  body=$(curl -s -w '\n%{http_code}' -H "$auth" "$api/$1")
  code=${body##*$'\n'}
  [ "$code" = 200 ] || { echo "GET $1 answered $code" >&2; return 1; }
  printf '%s' "${body%$'\n'*}"
}
wait_action() {  # prints ms from $2 until action $1 is completed
  local status
  while :; do
    status=$(get "actions/$1" | field status) || exit 1
    [ "$status" = completed ] && break
    [ "$status" = errored ] && { echo "action $1 errored" >&2; exit 1; }
    sleep 0.05
  done
  echo $(( $(now_ms) - $2 ))
}
# Every droplet made here is deleted on exit: left running, they fill the simulated nodes, and a live
# resize then waits for a migration target that never fits (until the action's deadline).
created=()
cleanup() { [ -n "${KEEP:-}" ] && return; for d in "${created[@]}"; do curl -s -o /dev/null -X DELETE -H "$auth" "$api/droplets/$d" || true; done; }
trap cleanup EXIT
droplet() {
  local id
  id=$(curl -sf -X POST "$api/droplets" -H "$auth" -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"$project\"}" | field id)
  until [ "$(get "droplets/$id" | field status)" = running ] && [ "$(get "droplets/$id" | sed -E 's/.*"locked":(true|false).*/\1/')" = false ]; do sleep 0.05; done
  echo "$id"
}

reboots=()
id=$(droplet) || exit 1
created+=("$id")
for _ in $(seq 1 "${REBOOTS:-20}"); do
  start=$(now_ms)
  action=$(curl -sf -X POST "$api/droplets/$id/actions" -H "$auth" -H 'content-type: application/json' -d '{"type":"reboot"}' | field id)
  t=$(wait_action "$action" "$start") || exit 1
  reboots+=("$t")
done

[ ${#reboots[@]} -eq 0 ] || echo "reboot → completed (ms):      $(printf '%s\n' "${reboots[@]}" | summary)"

# Live resizes (by default growing CPU, memory and disk at once), each on a fresh droplet.
resizes=()
for _ in $(seq 1 "${RESIZES:-20}"); do
  id=$(droplet) || exit 1
  created+=("$id")
  start=$(now_ms)
  action=$(curl -sf -X PATCH "$api/droplets/$id" -H "$auth" -H 'content-type: application/json' -d "{\"plan_id\":\"${PLAN:-s-2vcpu-4gb}\"}" \
    | sed -E 's/.*"action":\{"id":"([^"]+)".*/\1/')
  t=$(wait_action "$action" "$start") || exit 1
  resizes+=("$t")
  # Each resized droplet (2 vCPUs) goes at once: twenty of them would fill the simulated nodes' 48 vCPUs
  # so that the next hotplug's migration target finds no node but its source's.
  [ -n "${KEEP:-}" ] || curl -s -o /dev/null -X DELETE -H "$auth" "$api/droplets/$id"
done
[ ${#resizes[@]} -eq 0 ] || echo "live resize → completed (ms): $(printf '%s\n' "${resizes[@]}" | summary)"
