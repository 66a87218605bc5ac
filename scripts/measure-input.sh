#!/usr/bin/env bash
# The cost of the worst input: for each write endpoint, the slowest of its worst bodies (the largest body it accepts
# filled with the most array elements, the longest string, the deepest nesting; each refused with a 4xx), median over
# N calls, next to a plain GET /droplets/{id} (one Table read). Against a running local API (scripts/run-local.sh, or
# measure-hosts.sh, which runs this too) with a raised rate limit (see measure-actions.sh); the token must be the
# admin token for POST /tokens to count (any other is answered 403 before its body is read, and that row says so).
# Usage: DROPLETS_TOKEN=<token> scripts/measure-input.sh [calls=5] [api=http://localhost:7071]
set -euo pipefail
calls=${1:-5}
api=${2:-http://localhost:7071}/api/v1
auth="Authorization: Bearer ${DROPLETS_TOKEN:?set DROPLETS_TOKEN to the token run-local.sh printed}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Bodies: `repeat N TEXT` joins N copies of TEXT with commas.
repeat() { yes "$2" | head -n "$1" | paste -sd, -; }
long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }
body() { printf '%s' "$2" > "$work/$1.json"; }

big=$((512 * 1024 - 64)) small=$((64 * 1024 - 64))
body droplet-tags "{\"tags\":[$(repeat $((big / 3)) '""')]}"
body droplet-ssh-keys "{\"ssh_key_ids\":[$(repeat $((big / 3)) '""')]}"
body droplet-volumes "{\"volume_ids\":[$(repeat $((big / 6)) '"x\n"')]}"
body droplet-name "{\"name\":\"$(long $big)\"}"
body droplet-user-data "{\"name\":\"web\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"user_data\":\"$(long $big)\"}"
body droplet-nesting "{\"tags\":$(long $((big / 2)) '[')$(long $((big / 2)) ']')}"
body action-type "{\"type\":\"$(long $small)\"}"
body action-unknown "{\"unknown\":[$(repeat $((small / 2)) 0)]}"
body resize-plan "{\"plan_id\":\"$(long $small)\"}"
body ssh-key "{\"name\":\"k\",\"public_key\":\"ssh-ed25519 $(long $small A)\"}"
body volume-description "{\"name\":\"v\",\"size_gigabytes\":1,\"region\":\"nyc1\",\"description\":\"$(long $small)\"}"
body volume-action "{\"type\":\"attach\",\"droplet_id\":\"$(long $small)\"}"
body token-projects "{\"name\":\"t\",\"scope\":\"read\",\"project_ids\":[$(repeat $((small / 6)) '"x\n"')]}"

summary() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
# Median ms of N calls of one body; the status of the last in $work/status.
time_body() {
  local method=$1 path=$2 file=$3
  for _ in $(seq 1 "$calls"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X "$method" -H "$auth" -H 'content-type: application/json' \
      --data-binary "@$work/$file.json" "$api/$path"
  done > "$work/runs"
  tail -n1 "$work/runs" | cut -d' ' -f1 > "$work/status"
  awk '{print $2 * 1000}' "$work/runs" | summary
}
# The slowest body of an endpoint: "ms (body, status)".
worst() {
  local method=$1 path=$2 best=-1 which="" status=""; shift 2
  for file in "$@"; do
    local ms; ms=$(time_body "$method" "$path" "$file")
    if awk -v a="$ms" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$ms which=$file status=$(cat "$work/status"); fi
  done
  printf '%8s ms  (%s, %s, %s bytes)\n' "$best" "$which" "$status" "$(stat -c %s "$work/$which.json")"
}

id=$(curl -sf -X POST "$api/droplets" -H "$auth" -H 'content-type: application/json' \
  -d "{\"name\":\"input-bench\",\"image\":\"ubuntu-22-04\",\"plan_id\":\"s-1vcpu-1gb\",\"region\":\"nyc1\",\"project_id\":\"bench_$(date +%s)\"}" \
  | sed -E 's/.*"id":"([^"]+)".*/\1/')
trap 'curl -s -o /dev/null -X DELETE -H "$auth" "$api/droplets/$id"; rm -rf "$work"' EXIT
until curl -sf -H "$auth" "$api/droplets/$id" | grep -q '"status":"running"'; do sleep 0.2; done

get=$(for _ in $(seq 1 "$calls"); do curl -s -o /dev/null -w '%{time_total}\n' -H "$auth" "$api/droplets/$id" | awk '{print $1 * 1000}'; done | summary)
echo "worst input per endpoint, median of $calls calls (body, status, size):"
echo "POST /droplets                 $(worst POST droplets droplet-tags droplet-ssh-keys droplet-volumes droplet-name droplet-user-data droplet-nesting)"
echo "POST /droplets/{id}/actions    $(worst POST "droplets/$id/actions" action-type action-unknown)"
echo "PATCH /droplets/{id}           $(worst PATCH "droplets/$id" resize-plan)"
echo "POST /ssh_keys                 $(worst POST ssh_keys ssh-key)"
echo "POST /volumes                  $(worst POST volumes volume-description)"
echo "POST /volumes/{id}/actions     $(worst POST volumes/vol_000000000000/actions volume-action)"
echo "POST /tokens                   $(worst POST tokens token-projects)"
printf 'GET /droplets/{id}             %8s ms\n' "$get"
