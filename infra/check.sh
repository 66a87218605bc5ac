#!/usr/bin/env bash
# Checks infra/ offline, as CI does: every Bicep file and the dev parameters compile with the Bicep CLI with no
# error and no warning; the kustomization renders and every document in it is a Kubernetes object.
# (The manifests are also loaded into the Kubernetes client's typed models by tests/Droplets.Tests/Infra.)
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The Bicep CLI comes from NuGet like any other package (Azure.Bicep.CommandLine.linux-x64, see azure/bicep.proj).
dotnet restore azure/bicep.proj --verbosity quiet
version=$(sed -n 's/.*"Azure.Bicep.CommandLine.linux-x64" Version="\[\([^]]*\)\]".*/\1/p' azure/bicep.proj)
packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
bicep="${packages%/}/azure.bicep.commandline.linux-x64/$version/tools/bicep"
chmod +x "$bicep"
echo "bicep: $("$bicep" --version)"

# Fails on a non-zero exit and on any diagnostic line (warnings exit 0, so the output is read too).
run_clean() {
  local log="$out/log"
  if ! "$@" >"$log" 2>&1 || grep -Eq '(Warning|Error) [A-Za-z0-9-]+:' "$log"; then
    cat "$log"
    echo "FAILED: $*" >&2
    exit 1
  fi
  cat "$log"
}

for file in $(find azure -name '*.bicep' | sort); do
  echo "bicep build $file"
  run_clean "$bicep" build "$file" --outdir "$out"
done
for file in $(find azure -name '*.bicepparam' | sort); do
  echo "bicep build-params $file"
  # Secrets come from the deployer's environment; a placeholder is enough to compile.
  DROPLETS_ADMIN_TOKEN=${DROPLETS_ADMIN_TOKEN:-placeholder-for-compilation-only-00000000} \
  DROPLETS_CONSOLE_SIGNING_KEY=${DROPLETS_CONSOLE_SIGNING_KEY:-placeholder-for-compilation-only-00000000} \
    run_clean "$bicep" build-params "$file" --outfile "$out/$(basename "$file" .bicepparam).parameters.json"
done

# kubectl: the machine's, or Debian's package (kubernetes-client provides /usr/bin/kubectl).
if ! command -v kubectl >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi
echo "kubectl kustomize k8s"
run_clean kubectl kustomize k8s
kubectl kustomize k8s >"$out/k8s.yaml"
# --local: parsed into objects without a cluster; a document without apiVersion, kind or name fails here.
objects=$(KUBECONFIG=/dev/null kubectl label --local -f "$out/k8s.yaml" --dry-run=client -o name checked=true)
echo "$objects"
if grep -q '<unknown>' <<<"$objects" || [ -z "$objects" ]; then
  echo "FAILED: a rendered document has no name" >&2
  exit 1
fi
echo "infra: OK"
