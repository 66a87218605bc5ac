#!/usr/bin/env bash
# Console relay throughput: one RFB session pulling full frames back to back, through the console gateway
# (POST /droplets/{id}/console) and straight from the simulator's vnc subresource, against a running local
# API (scripts/run-local.sh). The difference is what the gateway costs.
# Usage: DROPLETS_TOKEN=<token> scripts/measure-console.sh [seconds=5] [api=http://localhost:7071] [simulator=http://127.0.0.1:8001]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
api=${2:-http://localhost:7071}/api/v1
sim=${3:-http://127.0.0.1:8001}
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
project="bench_$(date +%s)"
id=$(curl -sf -X POST "$api/droplets" -H "$auth" -H 'content-type: application/json' \
  -d "{\"name\":\"console-bench\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"$project\"}" \
  | sed -E 's/.*"id":"([^"]+)".*/\1/')
trap 'curl -s -o /dev/null -X DELETE -H "$auth" "$api/droplets/$id"' EXIT
until curl -sf -H "$auth" "$api/droplets/$id" | grep -q '"status":"running"'; do sleep 0.2; done
url=$(curl -sf -X POST -H "$auth" "$api/droplets/$id/console" | sed -E 's/.*"url":"([^"]+)".*/\1/')
direct="ws://${sim#http://}/apis/subresources.kubevirt.io/v1/namespaces/${project//_/-}/virtualmachineinstances/${id//_/-}/vnc"
echo "through the gateway: $(dotnet run scripts/measure-console.cs -- "$url" "$seconds")"
sim_token=${SIMULATOR_TOKEN:-$(sed -n 's/.*token: "\([^"]*\)".*/\1/p' .simulator/nyc1.kubeconfig)}
echo "straight to KubeVirt: $(dotnet run scripts/measure-console.cs -- "$direct" "$seconds" "$sim_token")"
