// Key Vault in RBAC mode holding the app's secrets; the app's identity may only read secrets (Key Vault
// Secrets User), and only in this vault. App settings point here with Key Vault references.
param vaultName string
param location string
param principalId string

@secure()
param adminToken string

@secure()
param regionTokens object

@secure()
param consoleSigningKey string

param regionSlugs array

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource admin 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-admin-token'
  properties: { value: adminToken }
}

resource console 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'console-signing-key'
  properties: { value: consoleSigningKey }
}

// A region's secret is written only when its token is given, so a first deployment can precede the clusters.
resource tokens 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for slug in regionSlugs: if (!empty(regionTokens[?slug] ?? '')) {
  parent: vault
  name: 'region-${slug}-token'
  properties: { value: regionTokens[slug] }
}]

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUser)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

// Versionless references: a new secret version is picked up without redeploying the app.
output adminTokenReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${admin.name})'
output regionTokenReferences object = toObject(regionSlugs, slug => slug, slug => '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=region-${slug}-token)')
output consoleSigningKeyReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${console.name})'
output name string = vault.name
