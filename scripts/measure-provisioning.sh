#!/usr/bin/env bash
# Measures provisioning overhead against a running local API (scripts/run-local.sh), with the simulator's
# import and boot delays set to zero:
#   api    POST /api/v1/droplets → GET shows `running` with both IPs
#   direct the same VirtualMachine + Service created straight on the simulator → Running with both IPs
# The difference is what Droplets adds (HTTP, Table writes, the durable workflow, polling).
# Usage: DROPLETS_TOKEN=<token printed by run-local.sh> scripts/measure-provisioning.sh [count=20] [api=http://localhost:7071] [simulator=http://127.0.0.1:8001]
set -euo pipefail
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
count=${1:-20}
api=${2:-http://localhost:7071}
sim=${3:-http://127.0.0.1:8001}
# The simulated region's API server refuses anonymous calls: its admin token (SIMULATOR_TOKEN, else the one in the
# kubeconfig run-local.sh wrote).
sim_auth="Authorization: Bearer ${SIMULATOR_TOKEN:-$(sed -n 's/.*token: "\([^"]*\)".*/\1/p' .simulator/nyc1.kubeconfig)}"
curl -sf -X PATCH "$sim/simulator/options" -H 'content-type: application/json' \
  -d '{"importDelay":"00:00:00","bootDelay":"00:00:00"}' >/dev/null
run=$(date +%s)
project="bench_$run"
ns="bench-direct-$run"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
field() { sed -E "s/.*\"$1\":\"?([^\",}]*)\"?.*/\1/"; }
# A rate-limited poll would silently inflate the figures: stop instead.
status_of() {
  local body code
  body=$(curl -s -w '\n%{http_code}' -H "$auth" "$api/api/v1/droplets/$1")
  code=${body##*$'\n'}
  [ "$code" = 200 ] || { echo "GET droplet answered $code (429: this token's rate limit; use a fresh token or wait)" >&2; return 1; }
  printf '%s' "${body%$'\n'*}" | field status
}
summary() { sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, max %d", a[1], a[int((NR+1)/2)], a[NR]}'; }

# Everything made here is deleted on exit, so that repeated runs do not fill the simulated nodes.
ids=()
cleanup() {
  for d in "${ids[@]}"; do curl -s -o /dev/null -X DELETE -H "$auth" "$api/api/v1/droplets/$d" || true; done
  curl -s -o /dev/null -X DELETE -H "$sim_auth" "$sim/api/v1/namespaces/$ns" || true
}
trap cleanup EXIT
api_times=()
for i in $(seq 1 "$count"); do
  start=$(now_ms)
  id=$(curl -sf -X POST "$api/api/v1/droplets" -H "$auth" -H 'content-type: application/json' \
    -d "{\"name\":\"bench-$i\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"$project\"}" | field id)
  ids+=("$id")
  # Polls every 50 ms: fine-grained enough, and 20 droplets stay within the 250 requests/minute limit.
  while :; do
    status=$(status_of "$id") || exit 1
    [ "$status" = running ] && break
    sleep 0.05
  done
  api_times+=($(( $(now_ms) - start )))
done

curl -sf -X POST -H "$sim_auth" "$sim/api/v1/namespaces" -H 'content-type: application/json' -d "{\"metadata\":{\"name\":\"$ns\"}}" >/dev/null
direct_times=()
for i in $(seq 1 "$count"); do
  name="direct-$i"
  start=$(now_ms)
  curl -sf -X POST -H "$sim_auth" "$sim/apis/kubevirt.io/v1/namespaces/$ns/virtualmachines" -H 'content-type: application/json' -d "{
    \"apiVersion\":\"kubevirt.io/v1\",\"kind\":\"VirtualMachine\",\"metadata\":{\"name\":\"$name\"},
    \"spec\":{\"runStrategy\":\"Always\",
      \"dataVolumeTemplates\":[{\"metadata\":{\"name\":\"$name-root\"},\"spec\":{\"source\":{\"registry\":{\"url\":\"docker://quay.io/containerdisks/ubuntu:22.04\"}},\"storage\":{\"resources\":{\"requests\":{\"storage\":\"25Gi\"}}}}}],
      \"template\":{\"spec\":{\"domain\":{\"cpu\":{\"sockets\":1},\"memory\":{\"guest\":\"1024Mi\"},\"devices\":{}},
        \"volumes\":[{\"name\":\"rootdisk\",\"dataVolume\":{\"name\":\"$name-root\"}}]}}}}" >/dev/null
  curl -sf -X POST -H "$sim_auth" "$sim/api/v1/namespaces/$ns/services" -H 'content-type: application/json' -d "{
    \"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$name-public\"},
    \"spec\":{\"type\":\"LoadBalancer\",\"selector\":{\"vm.kubevirt.io/name\":\"$name\"},\"ports\":[{\"port\":22}]}}" >/dev/null
  until [ "$(curl -sf -H "$sim_auth" "$sim/apis/kubevirt.io/v1/namespaces/$ns/virtualmachines/$name" | field printableStatus)" = Running ] \
    && curl -sf -H "$sim_auth" "$sim/apis/kubevirt.io/v1/namespaces/$ns/virtualmachineinstances/$name" | grep -q '"ipAddress"' \
    && curl -sf -H "$sim_auth" "$sim/api/v1/namespaces/$ns/services/$name-public" | grep -q '"ingress"'; do sleep 0.01; done
  direct_times+=($(( $(now_ms) - start )))
done

echo "POST -> running through the API, $count droplets (ms): $(printf '%s\n' "${api_times[@]}" | summary)"
echo "same objects straight on the simulator, $count VMs (ms):  $(printf '%s\n' "${direct_times[@]}" | summary)"
