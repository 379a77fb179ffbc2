// Role assignments: what the Function App's identity needs, each as narrow as the service allows.
// The resources are those the other modules created, looked up by name; the assignment names
// are derived from the same ids as ever, so a redeployment finds the assignments it made before.

@description('Short name the custom role name and id are derived from.')
param appName string

@description('The system-assigned identity of the Function App.')
param principalId string

@description('The resource id of the Function App.')
param functionAppId string

@description('The vault of the tenant keys.')
param keyVaultName string

@description('The storage account of the tables, queues and host state.')
param storageAccountName string

@description('Tables the app reads and writes.')
param tableNames array

@description('Recording jobs: the storage account of the recordings (this resource group); empty: none.')
param recordingsStorageAccountName string

@description('Recording jobs: the containers of that account they read and write (`container` or `tenantId:container`).')
param recordingContainers array

@description('The Application Insights component the app sends telemetry to.')
param applicationInsightsName string

// Built-in role definition ids (the same in every Azure cloud).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource recordingsAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = if (!empty(recordingsStorageAccountName)) {
  name: recordingsStorageAccountName
}

resource recordingsBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = if (!empty(recordingsStorageAccountName)) {
  parent: recordingsAccount
  name: 'default'
}

resource recordingContainerRefs 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [
  for entry in recordingContainers: if (!empty(recordingsStorageAccountName)) {
    parent: recordingsBlobService
    // An entry is `container` or `tenantId:container` (the app's RECCERT_RECORDING_CONTAINERS).
    name: last(split(entry, ':'))
  }
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// reccert Key Custodian (custom, this resource group only): import a tenant's key on upload, read
// it (public parts; the CryptographyClient looks the key up), unwrap session keys for playback
// (RSA-OAEP-256, decrypt as its alias), and delete it when a certificate is force-deleted. Unlike
// Key Vault Crypto Officer it cannot create, export, back up, restore, release or purge keys, and
// it has no rights on secrets or certificates.
resource keyCustodianRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, appName, 'reccert-key-custodian')
  properties: {
    roleName: 'reccert Key Custodian (${appName}, ${resourceGroup().name})'
    description: 'Import, read, unwrap with and delete the keys of recording certificates in the reccert vault.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read'
          'Microsoft.KeyVault/vaults/keys/import/action'
          'Microsoft.KeyVault/vaults/keys/unwrap/action'
          'Microsoft.KeyVault/vaults/keys/decrypt/action'
          'Microsoft.KeyVault/vaults/keys/delete'
        ]
        notDataActions: []
      }
    ]
  }
}

// Key custody (above), scoped to this one vault.
resource vaultCustodian 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionAppId, keyCustodianRole.id)
  scope: vault
  properties: {
    roleDefinitionId: keyCustodianRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor, per table: certificate metadata, assignment state, expiry index,
// notifications and audit are read and written by the HTTP functions, the consumer and the scan.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (tableName, i) in tableNames: {
    name: guid(tables[i].id, functionAppId, roles.storageTableDataContributor)
    scope: tables[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Storage Queue Data Contributor, on the queue service: the app sends events and notifications, and
// the Functions host reads, deletes and moves poison messages of the queue trigger (it needs
// queue-level rights on the poison queue it manages, so per-queue scope is too narrow).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queueService.id, functionAppId, roles.storageQueueDataContributor)
  scope: queueService
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Owner, on the account: the Functions host keeps its locks, timer schedule
// state and keys in blob containers it creates itself (AzureWebJobsStorage__accountName), and
// Flex Consumption reads the app package from its container; Microsoft documents Owner for the
// identity-based host storage connection.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionAppId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor, per recordings container: recording jobs list the container, read
// recordings with ranged downloads, stage and commit the rewrapped blobs, and authorize Put Block
// From URL's source with the identity's own token (no SAS, no account key).
resource recordingsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (entry, i) in recordingContainers: if (!empty(recordingsStorageAccountName)) {
    name: guid(recordingContainerRefs[i].id, functionAppId, roles.storageBlobDataContributor)
    scope: recordingContainerRefs[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Monitoring Metrics Publisher, on the Application Insights component: Entra-authenticated
// telemetry ingestion (local auth is disabled on the component).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionAppId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
