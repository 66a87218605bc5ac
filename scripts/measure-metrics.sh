#!/usr/bin/env bash
# Latency of GET /droplets/{id}/metrics (five PromQL queries to the region's Prometheus, in parallel) next to
# GET /droplets/{id} (one Table read), over N calls each, against a running local API (scripts/run-local.sh,
# which starts Prometheus). Run the API with a raised rate limit (see measure-actions.sh).
# Usage: DROPLETS_TOKEN=<token> scripts/measure-metrics.sh [calls=50] [api=http://localhost:7071]
set -euo pipefail
calls=${1:-50}
api=${2:-http://localhost:7071}/api/v1
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
id=$(curl -sf -X POST "$api/droplets" -H "$auth" -H 'content-type: application/json' \
  -d "{\"name\":\"metrics-bench\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"bench_$(date +%s)\"}" \
  | sed -E 's/.*"id":"([^"]+)".*/\1/')
trap 'curl -s -o /dev/null -X DELETE -H "$auth" "$api/droplets/$id"' EXIT
until curl -sf -H "$auth" "$api/droplets/$id" | grep -q '"status":"running"'; do sleep 0.2; done
echo "waiting for Prometheus to scrape $id..." >&2
until curl -sf -H "$auth" "$api/droplets/$id/metrics" | grep -q '"memory_total_bytes":[0-9]'; do sleep 1; done
summary() { sort -n | awk '{a[NR]=$1} END {printf "min %.1f, median %.1f, max %.1f ms (n=%d)", a[1], a[int((NR+1)/2)], a[NR], NR}'; }
time_of() { for _ in $(seq 1 "$calls"); do curl -s -o /dev/null -w '%{time_total}\n' -H "$auth" "$1" | awk '{print $1 * 1000}'; done | summary; }
echo "GET /droplets/{id}/metrics: $(time_of "$api/droplets/$id/metrics")"
echo "GET /droplets/{id}:         $(time_of "$api/droplets/$id")"
curl -s -H "$auth" "$api/droplets/$id/metrics"; echo
