#!/usr/bin/env bash
# Counts the Kubernetes requests the product makes per operation, as its users' cluster would see them: the sum of
# the simulated region's apiserver_request_total (every request through its front, which is what the product calls;
# tests/KubeVirt.Simulator/README.md) before and after each operation, against a running local API
# (scripts/run-local.sh), with realistic KubeVirt delays. Background work (the recovery sweep, the drift report)
# counts too, as it would on a real cluster.
#   create  POST /api/v1/droplets → running
#   reboot  POST …/actions {"type":"reboot"} → completed
#   delete  DELETE /api/v1/droplets/{id} → completed
# Usage: DROPLETS_TOKEN=<token printed by run-local.sh> scripts/measure-requests.sh [count=3] [boot=00:00:15] [import=00:00:05] [api=http://localhost:7071] [simulator=http://127.0.0.1:8001]
set -euo pipefail
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
count=${1:-3} boot=${2:-00:00:15} import=${3:-00:00:05} api=${4:-http://localhost:7071} sim=${5:-http://127.0.0.1:8001}
curl -sf -X PATCH "$sim/simulator/options" -H 'content-type: application/json' -d "{\"importDelay\":\"$import\",\"bootDelay\":\"$boot\"}" >/dev/null
restore() { curl -s -o /dev/null -X PATCH "$sim/simulator/options" -H 'content-type: application/json' -d '{"importDelay":"00:00:00.5","bootDelay":"00:00:01"}' || true; }
trap restore EXIT
project="bench_$(date +%s)"
field() { sed -E "s/.*\"$1\":\"?([^\",}]*)\"?.*/\1/"; }
requests() { curl -sf "$sim/metrics" | awk '/^apiserver_request_total\{/ {sum += $NF} END {printf "%d", sum}'; }
wait_for() { # url, field, value
  while [ "$(curl -s -H "$auth" "$1" | field "$2")" != "$3" ]; do sleep 0.5; done
}
summary() { sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, max %d", a[1], a[int((NR+1)/2)], a[NR]}'; }
creates=() reboots=() deletes=()
for i in $(seq 1 "$count"); do
  before=$(requests)
  id=$(curl -sf -X POST "$api/api/v1/droplets" -H "$auth" -H 'content-type: application/json' \
    -d "{\"name\":\"count-$i\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"$project\"}" | field id)
  wait_for "$api/api/v1/droplets/$id" status running
  creates+=($(( $(requests) - before )))

  before=$(requests)
  action=$(curl -sf -X POST "$api/api/v1/droplets/$id/actions" -H "$auth" -H 'content-type: application/json' -d '{"type":"reboot"}' | field id)
  wait_for "$api/api/v1/actions/$action" status completed
  reboots+=($(( $(requests) - before )))

  before=$(requests)
  action=$(curl -sf -X DELETE "$api/api/v1/droplets/$id" -H "$auth" | field id)
  wait_for "$api/api/v1/actions/$action" status completed
  deletes+=($(( $(requests) - before )))
done
echo "Kubernetes requests per operation (boot $boot, import $import; $count each):"
echo "  create → running:     $(printf '%s\n' "${creates[@]}" | summary)"
echo "  reboot → completed:   $(printf '%s\n' "${reboots[@]}" | summary)"
echo "  delete → completed:   $(printf '%s\n' "${deletes[@]}" | summary)"
