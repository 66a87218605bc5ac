#!/usr/bin/env bash
# Runs every test: unit, simulator, end-to-end on both hosts (the standalone host, and the Functions app on the real
# Functions host, each on Azurite) and the Functions metadata check. Needs the README's prerequisites; what else the
# tests use it provides: Debian's prometheus and chromium (installed when missing, as root with apt-get; otherwise it
# says what to install and stops) and a Functions host (Core Tools' func on PATH, DROPLETS_FUNC naming one, or the
# host built once from ../shared/functions-host) and the test clusters' kube-apiserver and etcd (kube_assets, lib.sh).
# Usage: scripts/test.sh [dotnet test options...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# /usr/bin/prometheus (the metrics tests; the node exporter it recommends is not needed) and /usr/bin/chromium (the
# noVNC browser tests, driven through playwright-core): Debian's packages, never a download.
missing=()
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "The tests need Debian's ${missing[*]} (/usr/bin/${missing[0]}${missing[1]:+, /usr/bin/${missing[1]}}). Install them with:" >&2
    for package in "${missing[@]}"; do
      case $package in
        prometheus) echo "  sudo apt-get install --no-install-recommends prometheus" >&2 ;;
        chromium) echo "  sudo apt-get install chromium" >&2 ;;
      esac
    done
    exit 1
  fi
  echo "Installing Debian's ${missing[*]} for the tests..." >&2
  apt-get update -qq
  for package in "${missing[@]}"; do
    case $package in
      prometheus) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null ;;
      chromium) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ;;
    esac
  done
fi

# The end-to-end tests run on the Functions host too; they find it the same way (functions_host, lib.sh).
functions_host >/dev/null
# The test clusters are real kube-apiservers (one etcd per run); kube_assets finds or prepares the binaries.
kube_assets

npm ci --no-audit --no-fund --loglevel=error
# Every test's name is printed as it ends; when some fail, their messages are repeated at the end, where a CI log's
# tail shows them.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Droplets.Functions.sln --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  echo "=== the failures again ==="
  awk '/^  Failed /{show=1} /^  (Passed|Skipped) /{show=0} show' "$log" | head -400
fi
exit "$status"
