// A dev environment with two regions. Secrets come from the environment of whoever deploys, never this file:
//   export DROPLETS_ADMIN_TOKEN=$(openssl rand -base64 32)      # ≥ 32 characters
//   export DROPLETS_CONSOLE_SIGNING_KEY=$(openssl rand -base64 32)   # shared with the console gateway
//   export DROPLETS_NYC1_TOKEN=… DROPLETS_AMS3_TOKEN=…          # ServiceAccount tokens, see infra/k8s/README.md
using 'main.bicep'

param name = 'droplets-dev'

// The Kubernetes API of each region's cluster (KubeVirt + CDI installed, infra/k8s applied).
param regions = [
  { slug: 'nyc1', endpoint: 'https://nyc1.k8s.dev.example.com:6443', skipTlsVerify: false, prometheus: 'https://prometheus.nyc1.dev.example.com/' }
  { slug: 'ams3', endpoint: 'https://ams3.k8s.dev.example.com:6443', skipTlsVerify: false, prometheus: 'https://prometheus.ams3.dev.example.com/' }
]

param adminToken = readEnvironmentVariable('DROPLETS_ADMIN_TOKEN')

// The console gateway (functions/Droplets.ConsoleGateway) runs next to the clusters with the same signing key.
param consoleSigningKey = readEnvironmentVariable('DROPLETS_CONSOLE_SIGNING_KEY')
param consoleGatewayUrl = 'wss://console.dev.example.com/console/vnc'

param regionTokens = {
  nyc1: readEnvironmentVariable('DROPLETS_NYC1_TOKEN', '')
  ams3: readEnvironmentVariable('DROPLETS_AMS3_TOKEN', '')
}

param maximumInstanceCount = 10
