#!/usr/bin/env bash
# The measure scripts' figures for both hosts side by side: the standalone host (:7071), then the Functions app on
# the real Functions host (:7073), each with its own tables (Droplets__TablePrefix) and task hub, on one fresh Azurite
# (in a temporary folder), one simulated region (nyc1 on :8001, delays at zero) and Prometheus, with the raised rate
# limit measure-actions.sh asks for. Per host: measure-metrics.sh (GET /droplets/{id}), measure-provisioning.sh
# (POST → running, next to the same objects straight on the simulator), measure-actions.sh (reboot → completed) and
# measure-input.sh (each write endpoint's worst body, with the admin token).
# Each host waits until the simulator is empty again (its deletes done) before it stops. Settings in the environment
# reach the hosts, e.g. a Durable tuning of the Functions host:
#   AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval=00:00:00.1 scripts/measure-hosts.sh
# HOSTS=functions (or standalone) measures only that one.
# Usage: scripts/measure-hosts.sh [gets=50] [droplets=20] [reboots=20]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
gets=${1:-50} count=${2:-20} reboots=${3:-20} hosts=${HOSTS:-standalone functions}
[ -x /usr/bin/prometheus ] || { echo "measure-metrics.sh needs /usr/bin/prometheus (scripts/test.sh installs it)" >&2; exit 1; }
[[ " $hosts " != *" functions "* ]] || func=$(functions_host)
npm ci --no-audit --no-fund --loglevel=error
dotnet build Droplets.Functions.sln --nologo -v quiet

work=$(mktemp -d)
finish() {
  local status=$?
  stop_all
  if [ "$status" = 0 ]; then rm -rf "$work"; else echo "measure-hosts failed; the hosts' output is in $work" >&2; fi
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

kube_assets
start_azurite "$work/azurite"
start_simulator 8001 "$work/nyc1.kubeconfig"
for port in 10000 10001 10002; do wait_for_port "$port"; done
nyc1_token=$(region_token "$work/nyc1.kubeconfig")
export SIMULATOR_TOKEN=$(sed -n 's/.*token: "\([^"]*\)".*/\1/p' "$work/nyc1.kubeconfig")
wait_for_port 8001
start_prometheus "$work/prometheus" 127.0.0.1:8001
export AzureWebJobsStorage="UseDevelopmentStorage=true"
export Catalog__Regions__nyc1__Endpoint="http://127.0.0.1:8001"
export Catalog__Regions__nyc1__Token="$nyc1_token"
export Catalog__Regions__nyc1__Prometheus="http://127.0.0.1:9090/"
export Logging__LogLevel__Default="${Logging__LogLevel__Default:-Warning}"
export Auth__RateLimit__PerMinute=100000 Auth__RateLimit__PerHour=1000000
export Auth__AdminToken="$(head -c 32 /dev/urandom | base64 -w0)"
export Recovery__Schedule="${Recovery__Schedule:-*/30 * * * * *}"

# Waits until the simulator holds no VirtualMachine: the deletes the measure scripts asked for are done.
drained() {
  local deadline=$((SECONDS + 120))
  until curl -sf -H "Authorization: Bearer $SIMULATOR_TOKEN" http://127.0.0.1:8001/apis/kubevirt.io/v1/virtualmachines | grep -q '"items":\[\]'; do
    [ $SECONDS -lt $deadline ] || { echo "the simulator still holds VirtualMachines after 120 s" >&2; exit 1; }
    sleep 0.5
  done
}

# The three measure scripts against the API at $1; their output in $work/$2.txt.
measure() {
  local out=$work/$2.txt
  DROPLETS_TOKEN=$(mint_token "$1/api/v1")
  export DROPLETS_TOKEN
  echo "== $2 host on $1" >&2
  ./scripts/measure-metrics.sh "$gets" "$1" | tee "$out"
  ./scripts/measure-provisioning.sh "$count" "$1" | tee -a "$out"
  REBOOTS=$reboots RESIZES=0 ./scripts/measure-actions.sh "$1" | tee -a "$out"
  DROPLETS_TOKEN=$Auth__AdminToken ./scripts/measure-input.sh 5 "$1" | tee -a "$out"
  drained
}

echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start" >&2
if [[ " $hosts " == *" standalone "* ]]; then
  Droplets__TablePrefix=standalone DurableTask__HubName=standalone \
    spawn dotnet functions/Droplets.Standalone/bin/Debug/net10.0/Droplets.Standalone.dll --urls http://localhost:7071 >"$work/standalone.log" 2>&1
  wait_for_port 7071
  measure http://localhost:7071 standalone
  stop_one "${pids[-1]}"
fi
if [[ " $hosts " == *" functions "* ]]; then
  export Droplets__TablePrefix=functions
  export AzureFunctionsJobHost__extensions__durableTask__hubName="${AzureFunctionsJobHost__extensions__durableTask__hubName:-functions}"
  start_functions "$func" 7073 "$work/functions.log"
  measure http://localhost:7073 functions
  stop_one "${pids[-1]}"
fi
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

# "…: min 3.6, median 4.0, max …" → "4.0 (min 3.6)"
figure() { [ ! -f "$work/$1.txt" ] || sed -nE "s|^$2.*min ([0-9.]+), median ([0-9.]+).*|\2 (min \1)|p" "$work/$1.txt"; }
row() { printf '%-50s %-20s %s\n' "$1" "$(figure standalone "$2")" "$(figure functions "$2")"; }
echo
printf '%-50s %-20s %s\n' "ms, median (min)" "standalone host" "Functions host"
row "GET /droplets/{id} (n=$gets)" 'GET /droplets/.id.:'
row "GET /droplets/{id}/metrics (n=$gets)" 'GET /droplets/.id./metrics:'
row "POST -> running (n=$count)" 'POST -> running'
row "reboot -> completed (n=$reboots)" 'reboot'
row "simulator alone, VM -> Running (n=$count, that run)" 'same objects'
