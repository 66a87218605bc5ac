// Droplets in one resource group: a Flex Consumption Function App (.NET 10 isolated) running as a user-assigned
// managed identity; its storage account (shared keys off) holding the host's blobs, the Durable task hub and the
// droplet tables; Key Vault (RBAC) for the secrets; Application Insights on Log Analytics.
// Deploy: az deployment group create -g <rg> -f infra/azure/main.bicep -p infra/azure/dev.bicepparam
targetScope = 'resourceGroup'

@description('Short name used in every resource name, e.g. droplets-dev.')
@minLength(3)
@maxLength(20)
param name string

param location string = resourceGroup().location

@description('One entry per region: { slug, endpoint (Kubernetes API URL of its cluster), skipTlsVerify, prometheus (optional: base URL of the Prometheus scraping its virt-handlers) }. The token comes from regionTokens.')
param regions array

@description('Auth__AdminToken: the bootstrap token that manages API tokens (at least 32 characters). Stored in Key Vault.')
@secure()
@minLength(32)
param adminToken string

@description('Console__SigningKey: HMAC key of console tickets, shared with the console gateway (at least 32 characters). Stored in Key Vault.')
@secure()
@minLength(32)
param consoleSigningKey string

@description('Console__GatewayUrl: where Droplets.ConsoleGateway serves /console/vnc next to the clusters, e.g. wss://console.example.com/console/vnc.')
param consoleGatewayUrl string

@description('Region slug → bearer token of the droplets ServiceAccount on that cluster. Regions left out (or empty) get no secret yet: set it later with another deployment.')
@secure()
param regionTokens object = {}

@description('Flex Consumption: the most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption instance size in MB (2048 or 4096).')
@allowed([2048, 4096])
param instanceMemoryMB int = 2048

// The app's own settings, with the defaults the README documents.
param authCacheTtl string = '00:00:10'
param rateLimitPerMinute int = 250
param rateLimitPerHour int = 5000
param provisioningDeadline string = '00:10:00'
param provisioningObserveWait string = '00:00:20'
param actionsDeadline string = '00:05:00'
@description('NCRONTAB schedule of the recovery sweep (a timer trigger; Flex Consumption takes cron schedules only).')
param recoverySchedule string = '*/30 * * * * *'
param recoveryGrace string = '00:00:30'
param tablePrefix string = ''

@description('The OIDC issuer URL of the cluster where the console gateway runs (az aks show --query oidcIssuerProfile.issuerUrl), so that its ServiceAccount droplets-system/droplets-console signs in as the gateway\'s identity (workload identity). Empty: federate it later.')
param consoleOidcIssuer string = ''

var suffix = uniqueString(resourceGroup().id, name)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}'
  location: location
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: name
    location: location
    principalId: identity.properties.principalId
  }
}

// The console gateway's own identity (it runs next to the clusters, as infra/k8s/console-gateway.yaml's
// ServiceAccount): the console tickets table only. It is given no Key Vault secret: its signing key is given to it
// where it runs.
resource consoleIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}-console'
  location: location
}

resource consoleFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (!empty(consoleOidcIssuer)) {
  parent: consoleIdentity
  name: 'droplets-console'
  properties: {
    issuer: consoleOidcIssuer
    subject: 'system:serviceaccount:droplets-system:droplets-console'
    audiences: ['api://AzureADTokenExchange']
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    accountName: take('st${replace(name, '-', '')}${suffix}', 24)
    location: location
    principalId: identity.properties.principalId
    consolePrincipalId: consoleIdentity.properties.principalId
    ticketsTableName: '${tablePrefix}consoletickets'
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    vaultName: take('kv-${take(replace(name, '-', ''), 8)}-${suffix}', 24)
    location: location
    principalId: identity.properties.principalId
    adminToken: adminToken
    consoleSigningKey: consoleSigningKey
    regionTokens: regionTokens
    regionSlugs: map(regions, r => r.slug)
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: name
    location: location
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.accountName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    settings: union(
      {
        Auth__AdminToken: vault.outputs.adminTokenReference
        Auth__CacheTtl: authCacheTtl
        Auth__RateLimit__PerMinute: string(rateLimitPerMinute)
        Auth__RateLimit__PerHour: string(rateLimitPerHour)
        Provisioning__Deadline: provisioningDeadline
        Provisioning__ObserveWait: provisioningObserveWait
        Actions__Deadline: actionsDeadline
        Recovery__Schedule: recoverySchedule
        Recovery__Grace: recoveryGrace
        Droplets__TablePrefix: tablePrefix
        Console__SigningKey: vault.outputs.consoleSigningKeyReference
        Console__GatewayUrl: consoleGatewayUrl
      },
      reduce(regions, {}, (settings, r) => union(settings, {
        'Catalog__Regions__${r.slug}__Endpoint': r.endpoint
        'Catalog__Regions__${r.slug}__Token': vault.outputs.regionTokenReferences[r.slug]
        'Catalog__Regions__${r.slug}__SkipTlsVerify': string(r.?skipTlsVerify ?? false)
      }, contains(r, 'prometheus') ? { 'Catalog__Regions__${r.slug}__Prometheus': r.prometheus } : {}))
    )
  }
}

output functionAppName string = app.outputs.name
output apiBaseUrl string = 'https://${app.outputs.defaultHostName}/api/v1'
output keyVaultName string = vault.outputs.name
output storageAccountName string = storage.outputs.accountName
output identityClientId string = identity.properties.clientId
output consoleIdentityClientId string = consoleIdentity.properties.clientId
output tableServiceUri string = storage.outputs.tableServiceUri
