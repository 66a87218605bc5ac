#!/usr/bin/env bash
# Measures time from POST /api/v1/droplets to `running` (both IPs) against a running local API
# (scripts/run-local.sh), with the simulator's import and boot delays set to zero.
# Usage: scripts/measure-provisioning.sh [count=20] [api=http://localhost:7071] [simulator=http://127.0.0.1:8001]
set -euo pipefail
count=${1:-20}
api=${2:-http://localhost:7071}
sim=${3:-http://127.0.0.1:8001}
curl -sf -X PATCH "$sim/simulator/options" -H 'content-type: application/json' \
  -d '{"importDelay":"00:00:00","bootDelay":"00:00:00"}' >/dev/null
project="bench_$(date +%s)"
times=()
for i in $(seq 1 "$count"); do
  start=$(date +%s%N)
  id=$(curl -sf -X POST "$api/api/v1/droplets" -H 'content-type: application/json' \
    -d "{\"name\":\"bench-$i\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"$project\"}" \
    | sed -E 's/.*"id":"([^"]+)".*/\1/')
  while :; do
    status=$(curl -sf "$api/api/v1/droplets/$id" | sed -E 's/.*"status":"([^"]+)".*/\1/')
    [ "$status" = running ] && break
    [ "$status" = error ] && { echo "$id failed" >&2; exit 1; }
    sleep 0.02
  done
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "POST -> running over $count droplets (ms): min ${sorted[0]}, median ${sorted[$((count / 2))]}, max ${sorted[$((count - 1))]}"
