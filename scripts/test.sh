#!/usr/bin/env bash
# Runs every test: unit, simulator, end-to-end (standalone host on Azurite) and the Functions metadata check.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dotnet test Droplets.Functions.sln --logger "console;verbosity=normal" "$@"
