// The account behind AzureWebJobsStorage: the Functions host's blobs (keys, leases, the deployment package),
// the Durable task hub (queues, tables, blobs) and the droplet tables. Shared keys are disabled, so every
// access is the app's managed identity with these three data roles on this account and nothing else.
param accountName string
param location string
param principalId string

@description('The console gateway\'s identity: it gets the console tickets table, and nothing else of the account.')
param consolePrincipalId string

@description('The console tickets table (Droplets__TablePrefix + consoletickets).')
param ticketsTableName string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Flex Consumption runs the app from a package in this container.
resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'app-package'
}

// Blob Data Owner: the host's keys and leases, Durable's lease and large-message blobs, the package.
// Queue Data Contributor: Durable's control and work-item queues. Table Data Contributor: Durable's
// instance and history tables, and ours (droplets, dropletids, tokens, ... created at start).
var roles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
]

resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in roles: {
  name: guid(account.id, principalId, role)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource tables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Made here (the app would make it at start) so that the gateway's grant has a scope.
resource tickets 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tables
  name: ticketsTableName
}

// The console gateway redeems tickets (reads and deletes their rows) and reads the revoked tokens: Table Data
// Contributor on that one table. No other table (not tokens, not droplets), no blobs, no queues.
resource consoleGrant 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tickets.id, consolePrincipalId, roles[2])
  scope: tickets
  properties: {
    principalId: consolePrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[2])
  }
}

output accountName string = account.name
output tableServiceUri string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deployments.name}'
