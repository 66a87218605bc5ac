# Sourced by the run and measure scripts from the repository root, not run on its own: the local services they
# start. Each started process is recorded in `pids`; `trap stop_all EXIT` (and `trap 'exit 130' INT TERM`) stops them.
#   . scripts/lib.sh

pids=()
# Runs "$@" in the background in a session of its own, so that a Ctrl+C reaches only the script, which then stops
# everything in order (below), and records its pid.
spawn() {
  setsid "$@" </dev/null &
  pids+=($!)
}

# Stops one of them and forgets it: SIGTERM, and SIGKILL to its process group (a host's worker too) if it has not
# exited within 10 s (the standalone host waits 30 s for its open gRPC streams; everything here is crash-safe).
stop_one() {
  local pid=$1 kept=() p
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  pids=(${kept[@]+"${kept[@]}"})
}

# Stops them all, the last started first: a host stops (the Functions host with its worker) while the storage and
# the regions it talks to are still there.
stop_all() {
  while [ ${#pids[@]} -gt 0 ]; do stop_one "${pids[-1]}"; done
}

wait_for_port() {
  for _ in $(seq 1 120); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "nothing is listening on port $1" >&2
  exit 1
}

# Azurite on its default ports (what UseDevelopmentStorage=true names), keeping its data in folder $1.
start_azurite() {
  mkdir -p "$1"
  spawn node node_modules/azurite/dist/src/azurite.js --location "$1" --skipApiVersionCheck --silent
}

# A simulated KubeVirt region on 127.0.0.1:$1: a real kube-apiserver (binaries from kube_assets) with the simulator as
# KubeVirt; its admin kubeconfig (naming the API server) is written to $2 once it is up.
# Further arguments go to the simulator (e.g. --Simulator:NodeCount=10). The build is $CONFIGURATION's (Debug).
start_simulator() {
  rm -f "$2"
  spawn dotnet "tests/KubeVirt.Simulator/bin/${CONFIGURATION:-Debug}/net10.0/KubeVirt.Simulator.dll" --urls "http://127.0.0.1:$1" --kubeconfig "$2" "${@:3}"
}

# Waits for the region whose kubeconfig is $1, applies infra/k8s there (as a cluster admin would) and prints a token
# of the app's ServiceAccount (kubectl create token: a bound ServiceAccount token, valid for a day).
region_token() {
  for _ in $(seq 1 240); do [ -s "$1" ] && break; sleep 0.5; done
  [ -s "$1" ] || { echo "the simulated region did not write $1" >&2; exit 1; }
  kubectl --kubeconfig "$1" apply -k infra/k8s >/dev/null
  kubectl --kubeconfig "$1" -n droplets-system create token droplets --duration=24h
}

# Prometheus on :9090 with its data in folder $1, scraping the simulators at $2… (host:port) every 5 s.
start_prometheus() {
  local data=$1 targets
  shift
  targets=$(printf '"%s", ' "$@")
  mkdir -p "$data"
  cat > "$data/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: kubevirt
    static_configs:
      - targets: [${targets%, }]
YAML
  spawn /usr/bin/prometheus --config.file="$data/prometheus.yml" --storage.tsdb.path="$data/data" \
    --web.listen-address=127.0.0.1:9090 --log.level=warn
  wait_for_port 9090
}

# The `func` to run the Functions app with: $DROPLETS_FUNC, else Azure Functions Core Tools' on PATH, else the real
# Functions host built from source in ../shared/functions-host (built here, once: build.sh caches it).
functions_host() {
  if [ -n "${DROPLETS_FUNC:-}" ]; then
    command -v "$DROPLETS_FUNC" >/dev/null || { echo "DROPLETS_FUNC=$DROPLETS_FUNC is not a command" >&2; return 1; }
    echo "$DROPLETS_FUNC"
  elif command -v func >/dev/null; then
    command -v func
  elif [ -x ../shared/functions-host/build.sh ]; then
    echo "Building the Functions host from ../shared/functions-host (reused when already built)..." >&2
    ../shared/functions-host/build.sh >/dev/null || { echo "../shared/functions-host/build.sh failed (see its log above)" >&2; return 1; }
    echo "$(cd ../shared/functions-host && pwd)/func"
  else
    echo "No Functions host: install Azure Functions Core Tools v4 (func on PATH), set DROPLETS_FUNC to a func," >&2
    echo "or put shared/functions-host beside this clone (../shared/functions-host)." >&2
    return 1
  fi
}

# `func start` ($1) on the solution's build output of the Functions app ($CONFIGURATION's, Debug), on port $2, settings from the environment
# (they take precedence over local.settings.json); its output to file $3 if given. Ready once an API route answers
# with our problem (401 without a token): the host answers /admin/host/status before its worker has indexed the
# functions.
start_functions() {
  local func=$1 port=$2 log=${3:-} deadline=$((SECONDS + 120)) type
  (
    [ -z "$log" ] || exec >>"$log" 2>&1
    export AzureFunctionsJobHost__logging__logLevel__default="${AzureFunctionsJobHost__logging__logLevel__default:-Warning}"
    export FUNCTIONS_WORKER_RUNTIME=dotnet-isolated
    exec setsid "$func" start --script-root "functions/Droplets.Functions/bin/${CONFIGURATION:-Debug}/net10.0" --port "$port" </dev/null
  ) &
  pids+=($!)
  local host=$!
  while :; do
    type=$(curl -s -o /dev/null -w '%{content_type}' "http://localhost:$port/api/v1/regions" || true)
    case $type in application/problem+json*) return 0 ;; esac
    kill -0 "$host" 2>/dev/null || { echo "the Functions host exited before it served the API" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "the Functions host did not serve the API on port $port within 120 s" >&2; exit 1; }
    sleep 0.5
  done
}

# The test cluster's binaries (kube-apiserver and etcd), exported as KUBEBUILDER_ASSETS, the folder the tests and
# controller-runtime's envtest look in: KUBEBUILDER_ASSETS when it already holds both, else both on PATH, else
# ../shared/kube-apiserver's kube-apiserver (unpacked once) with /usr/bin/etcd or Debian's etcd-server package
# (downloaded and unpacked, no service started), cached where ../shared/kube-apiserver/cluster caches them.
kube_assets() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
    return 0
  fi
  if command -v kube-apiserver >/dev/null && command -v etcd >/dev/null; then
    return 0
  fi
  local shared=../shared/kube-apiserver cache=${XDG_CACHE_HOME:-$HOME/.cache}/kube-apiserver
  if [ ! -d "$shared/dist" ]; then
    echo "No kube-apiserver and etcd: put both on PATH, set KUBEBUILDER_ASSETS to a folder holding them (as" >&2
    echo "envtest's setup-envtest installs them), or put shared/kube-apiserver beside this clone." >&2
    return 1
  fi
  local api=$cache/v1.32.6/kube-apiserver etcd=/usr/bin/etcd
  if [ ! -x "$api" ]; then
    mkdir -p "$cache/v1.32.6"
    xz -dc "$shared"/dist/kube-apiserver-v1.32.6-linux-amd64.xz > "$api.tmp" && chmod +x "$api.tmp" && mv "$api.tmp" "$api"
  fi
  if [ ! -x "$etcd" ]; then
    etcd=$cache/etcd/usr/bin/etcd
    if [ ! -x "$etcd" ]; then
      local tmp; tmp=$(mktemp -d)
      ( cd "$tmp" && { apt-get download etcd-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download etcd-server >/dev/null; }; } ) \
        || { echo "cannot get Debian's etcd-server package (apt-get download etcd-server)" >&2; return 1; }
      mkdir -p "$cache/etcd" && dpkg -x "$tmp"/etcd-server_*.deb "$cache/etcd" && rm -rf "$tmp"
    fi
  fi
  export KUBEBUILDER_ASSETS=$cache/assets
  mkdir -p "$KUBEBUILDER_ASSETS"
  ln -sf "$api" "$KUBEBUILDER_ASSETS/kube-apiserver"
  ln -sf "$etcd" "$KUBEBUILDER_ASSETS/etcd"
}

# A new API token (write scope, every project) from the API at $1 (…/api/v1), minted with $Auth__AdminToken.
mint_token() {
  curl -sf -X POST "$1/tokens" -H "Authorization: Bearer $Auth__AdminToken" -H 'content-type: application/json' \
    -d '{"name":"development","project_ids":["*"],"scope":"write"}' | sed -E 's/.*"token":"([^"]+)".*/\1/'
}
