// Key Vault: the tenants' private keys, imported non-exportable and used in the vault. RBAC only,
// soft delete with purge protection, reachable from the Functions subnet; every key operation
// is logged with the caller's identity.

@description('Name of the vault.')
param name string

@description('Region of the vault.')
param location string

@description('The only subnet allowed through the vault firewall.')
param functionsSubnetId string

@description('Workspace that receives the vault audit log.')
param logAnalyticsWorkspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      // Premium: keys may be imported HSM-protected later without moving vaults.
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // A deleted tenant key stays recoverable for the whole retention: old recordings need it.
    enablePurgeProtection: true
    //checkov:skip=CKV_AZURE_189:Public network access stays on only so the Functions subnet's service endpoint works; networkAcls deny every other network.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: functionsSubnetId
        }
      ]
    }
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'vault-audit'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        // Every key import, unwrap and delete, with the caller's identity.
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

@description('The vault name, for the key-custodian role assignment.')
output name string = vault.name

@description('The vault URI (RECCERT_KEY_VAULT_URL).')
output uri string = vault.properties.vaultUri
