// The webhook of the expiry notices (DESIGN section 5): its signing key as a Key Vault secret,
// readable by the Function App alone. The app setting RECCERT_WEBHOOK_SECRET is a Key Vault
// reference to it (modules/functionapp.bicep), so the key is in no app setting value, no
// template output and no deployment log (the parameter is @secure()).

@description('The vault that holds the secret (the tenant keys\' vault).')
param keyVaultName string

@description('Name of the secret.')
param secretName string

@description('The signing key (16 characters or more); empty: no webhook, nothing is created.')
@secure()
param signingKey string

@description('The Function App\'s identity, the only reader of the secret.')
param principalId string

@description('The Function App\'s resource id (the role assignment name is derived from it).')
param functionAppId string

// Key Vault Secrets User (built-in): get a secret's value, nothing else.
var secretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(signingKey)) {
  //checkov:skip=CKV_AZURE_114:contentType is set to text/plain below; checkov does not read the properties of a conditional resource (if (...)), as a run without the condition shows.
  //checkov:skip=CKV_AZURE_41:The signing key is shared with the webhook receiver and rotated by the operator with it (docs/azure.md); an expiry date would stop the notices without warning.
  parent: vault
  name: secretName
  properties: {
    value: signingKey
    contentType: 'text/plain'
  }
}

// Key Vault Secrets User on this one secret: the Functions host resolves the Key Vault reference
// of RECCERT_WEBHOOK_SECRET with the app's identity.
resource secretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(signingKey)) {
  name: guid(vault.id, secretName, functionAppId, secretsUserRole)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRole)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
