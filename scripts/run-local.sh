#!/usr/bin/env bash
# Runs the API locally on http://localhost:7071 with everything it needs: Azurite (tables, queues,
# durable task hub), two simulated KubeVirt regions (nyc1 on :8001, ams3 on :8002; each a real kube-apiserver with
# the simulator as KubeVirt, infra/k8s applied, the app using its ServiceAccount's token; admin kubeconfigs in
# .simulator/), a Prometheus scraping them (:9090) and the standalone host. Ctrl+C stops all of it.
#
# --functions runs the Functions app on the real Functions host instead (`func start`: $DROPLETS_FUNC, else Core
# Tools' func on PATH, else the host built from ../shared/functions-host), with the console gateway beside it on
# :7072 (Functions holds no WebSockets) and the recovery sweep on the timer Recovery__Schedule.
#
# It prints a development API token as DROPLETS_TOKEN=<token> (write scope, every project). Set
# DROPLETS_DEV_TOKEN to reuse one from an earlier run (Azurite keeps its data in .azurite/), and
# DROPLETS_ADMIN_TOKEN to choose the admin token that manages tokens (otherwise a random one is used).
# Usage: scripts/run-local.sh [--functions]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
host=standalone
case ${1:-} in
  "") ;;
  --functions) host=functions ;;
  *) echo "usage: scripts/run-local.sh [--functions]" >&2; exit 2 ;;
esac
[ "$host" = standalone ] || func=$(functions_host)
kube_assets
# kubectl applies infra/k8s to the simulated regions: the machine's, or Debian's kubernetes-client package.
if ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
  else
    echo "kubectl is needed: sudo apt-get install kubernetes-client" >&2; exit 1
  fi
fi
npm ci --no-audit --no-fund --loglevel=error
dotnet build Droplets.Functions.sln --nologo -v quiet

trap stop_all EXIT
trap 'exit 130' INT TERM HUP
start_azurite .azurite
mkdir -p .simulator
start_simulator 8001 .simulator/nyc1.kubeconfig
start_simulator 8002 .simulator/ams3.kubeconfig
for port in 10000 10001 10002; do wait_for_port "$port"; done
nyc1_token=$(region_token .simulator/nyc1.kubeconfig)
ams3_token=$(region_token .simulator/ams3.kubeconfig)
for port in 8001 8002; do wait_for_port "$port"; done

# Prometheus on :9090 scrapes both simulated regions every 5 s (GET /droplets/{id}/metrics asks it). Debian's
# package is installed when it is missing and this runs as root; otherwise metrics answer 424 until it is.
if [ ! -x /usr/bin/prometheus ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's prometheus package for local metrics..." >&2
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || true
fi
if [ -x /usr/bin/prometheus ]; then
  start_prometheus .prometheus 127.0.0.1:8001 127.0.0.1:8002
  export Catalog__Regions__nyc1__Prometheus="http://127.0.0.1:9090/"
  export Catalog__Regions__ams3__Prometheus="http://127.0.0.1:9090/"
else
  echo "No Prometheus: metrics will answer 424 metrics_unavailable. Install it with: sudo apt-get install prometheus" >&2
fi

export AzureWebJobsStorage="UseDevelopmentStorage=true"
export Catalog__Regions__nyc1__Endpoint="http://127.0.0.1:8001"
export Catalog__Regions__ams3__Endpoint="http://127.0.0.1:8002"
export Catalog__Regions__nyc1__Token="$nyc1_token"
export Catalog__Regions__ams3__Token="$ams3_token"
export Logging__LogLevel__Default="${Logging__LogLevel__Default:-Warning}"
export Logging__LogLevel__Droplets="${Logging__LogLevel__Droplets:-Information}"
export Auth__AdminToken="${DROPLETS_ADMIN_TOKEN:-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')}"
if [ "$host" = standalone ]; then
  spawn dotnet functions/Droplets.Standalone/bin/Debug/net10.0/Droplets.Standalone.dll --urls http://localhost:7071
  wait_for_port 7071
  served="standalone host"
else
  # The gateway redeems the console tickets the app signs: same storage, regions and signing key (new each run).
  export Recovery__Schedule="${Recovery__Schedule:-*/30 * * * * *}"
  export Console__SigningKey="$(head -c 32 /dev/urandom | base64 -w0)"
  export Console__GatewayUrl="ws://localhost:7072/console/vnc"
  spawn dotnet functions/Droplets.ConsoleGateway/bin/Debug/net10.0/Droplets.ConsoleGateway.dll --urls http://127.0.0.1:7072
  wait_for_port 7072
  start_functions "$func" 7071
  served="Functions host $func, console gateway on :7072"
fi

api=http://localhost:7071/api/v1
token="${DROPLETS_DEV_TOKEN:-}"
if [ -n "$token" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$api/droplets?per_page=1")" != 200 ]; then
  echo "DROPLETS_DEV_TOKEN is not a valid token here (new storage?); creating a new one." >&2
  token=""
fi
[ -n "$token" ] || token=$(mint_token "$api")
echo "Droplets API on http://localhost:7071 ($served; regions: nyc1 -> http://127.0.0.1:8001, ams3 -> http://127.0.0.1:8002). Ctrl+C stops."
echo "DROPLETS_TOKEN=$token"
wait "${pids[-1]}"
