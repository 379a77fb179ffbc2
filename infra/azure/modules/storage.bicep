// Storage: Functions host state (blobs, identity-based), the app package, the tables and queues
// of the adapters (functions/azure/adapters), and their diagnostic logs.

@description('Name of the storage account (3-24 lower-case letters or digits).')
param name string

@description('Region of the account.')
param location string

@description('The only subnet allowed through the account firewall.')
param functionsSubnetId string

@description('Workspace that receives read, write and delete logs of every storage service.')
param logAnalyticsWorkspaceId string

@description('Blob container the Flex Consumption app package is deployed to.')
param deploymentContainerName string

@description('Tables the adapters use.')
param tableNames array

@description('Queues the adapters and the Functions host use.')
param queueNames array

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_43:The name is computed in main.bicep ('st' + appName + uniqueString, lower-cased, at most 24 characters), which always meets the naming rules; checkov cannot evaluate the functions.
  name: name
  location: location
  kind: 'StorageV2'
  sku: {
    // Geo-redundant: the metadata and audit trail must survive a regional outage.
    name: 'Standard_GZRS'
  }
  properties: {
    // Flex Consumption reaches its host storage and package with the managed identity only.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    //checkov:skip=CKV_AZURE_59:Public network access stays on only so the service endpoint of the Functions subnet works; networkAcls deny every other network.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: functionsSubnetId
          action: 'Allow'
        }
      ]
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

// Read, write and delete requests on every storage service go to Log Analytics.
var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-logs'
  scope: queueService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: storageLogs
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-logs'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: storageLogs
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'blob-logs'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: storageLogs
  }
}

@description('The account name (AzureWebJobsStorage__accountName).')
output name string = storage.name

@description('Blob endpoint: the app package container lives under it.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Table endpoint of the adapters (RECCERT_TABLE_ENDPOINT).')
output tableEndpoint string = storage.properties.primaryEndpoints.table

@description('Queue endpoint of the adapters (RECCERT_QUEUE_ENDPOINT).')
output queueEndpoint string = storage.properties.primaryEndpoints.queue
