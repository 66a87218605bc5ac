#!/usr/bin/env bash
# Runs the API locally on http://localhost:7071 with everything it needs: Azurite (tables, queues,
# durable task hub), two simulated KubeVirt regions (nyc1 on :8001, ams3 on :8002), a Prometheus scraping
# them (:9090) and the standalone host. Ctrl+C stops all of it.
#
# It prints a development API token as DROPLETS_TOKEN=<token> (write scope, every project). Set
# DROPLETS_DEV_TOKEN to reuse one from an earlier run (Azurite keeps its data in .azurite/), and
# DROPLETS_ADMIN_TOKEN to choose the admin token that manages tokens (otherwise a random one is used).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dotnet build Droplets.Functions.sln --nologo -v quiet

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_for_port() {
  for _ in $(seq 1 120); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "nothing is listening on port $1" >&2
  exit 1
}

mkdir -p .azurite
node node_modules/azurite/dist/src/azurite.js --location .azurite --skipApiVersionCheck --silent &
pids+=($!)
dotnet tests/KubeVirt.Simulator/bin/Debug/net10.0/KubeVirt.Simulator.dll --urls http://127.0.0.1:8001 &
pids+=($!)
dotnet tests/KubeVirt.Simulator/bin/Debug/net10.0/KubeVirt.Simulator.dll --urls http://127.0.0.1:8002 &
pids+=($!)
for port in 10000 10001 10002 8001 8002; do wait_for_port "$port"; done

# Prometheus on :9090 scrapes both simulated regions every 5 s (GET /droplets/{id}/metrics asks it). Debian's
# package is installed when it is missing and this runs as root; otherwise metrics answer 424 until it is.
if [ ! -x /usr/bin/prometheus ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's prometheus package for local metrics..." >&2
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || true
fi
if [ -x /usr/bin/prometheus ]; then
  mkdir -p .prometheus
  cat > .prometheus/prometheus.yml <<'YAML'
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: kubevirt
    static_configs:
      - targets: ["127.0.0.1:8001", "127.0.0.1:8002"]
YAML
  /usr/bin/prometheus --config.file=.prometheus/prometheus.yml --storage.tsdb.path=.prometheus/data \
    --web.listen-address=127.0.0.1:9090 --log.level=warn &
  pids+=($!)
  wait_for_port 9090
  export Catalog__Regions__nyc1__Prometheus="http://127.0.0.1:9090/"
  export Catalog__Regions__ams3__Prometheus="http://127.0.0.1:9090/"
else
  echo "No Prometheus: metrics will answer 424 metrics_unavailable. Install it with: sudo apt-get install prometheus" >&2
fi

export AzureWebJobsStorage="UseDevelopmentStorage=true"
export Catalog__Regions__nyc1__Endpoint="http://127.0.0.1:8001"
export Catalog__Regions__ams3__Endpoint="http://127.0.0.1:8002"
export Logging__LogLevel__Default="${Logging__LogLevel__Default:-Warning}"
export Logging__LogLevel__Droplets="${Logging__LogLevel__Droplets:-Information}"
export Auth__AdminToken="${DROPLETS_ADMIN_TOKEN:-$(head -c 32 /dev/urandom | base64 | tr -d '/+=')}"
dotnet functions/Droplets.Standalone/bin/Debug/net10.0/Droplets.Standalone.dll --urls http://localhost:7071 &
pids+=($!)
wait_for_port 7071

api=http://localhost:7071/api/v1
token="${DROPLETS_DEV_TOKEN:-}"
if [ -n "$token" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$api/droplets?per_page=1")" != 200 ]; then
  echo "DROPLETS_DEV_TOKEN is not a valid token here (new storage?); creating a new one." >&2
  token=""
fi
if [ -z "$token" ]; then
  token=$(curl -sf -X POST "$api/tokens" -H "Authorization: Bearer $Auth__AdminToken" -H 'content-type: application/json' \
    -d '{"name":"development","project_ids":["*"],"scope":"write"}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
fi
echo "Droplets API on http://localhost:7071 (regions: nyc1 -> http://127.0.0.1:8001, ams3 -> http://127.0.0.1:8002). Ctrl+C stops."
echo "DROPLETS_TOKEN=$token"
wait "${pids[-1]}"
