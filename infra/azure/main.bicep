// reccert on Azure (DESIGN sections 2, 5, 7): one Function App on Flex Consumption (Linux, Node 20)
// with a system-assigned managed identity, Key Vault holding the tenants' private keys (imported
// non-exportable, used in the vault), Table and Queue storage for metadata and events, and
// Application Insights on Log Analytics. No secrets are created or stored here: every data-plane
// call uses the Function App's identity and the narrow role assignments at the end of this file.
//
// Deploy: az deployment group create -g <rg> -f infra/azure/main.bicep -p jwtIssuer=... jwtAudience=... jwksUri=...

targetScope = 'resourceGroup'

@description('Short name used to derive resource names (3-11 lower-case letters or digits).')
@minLength(3)
@maxLength(11)
param appName string = 'reccert'

@description('Region for every resource.')
param location string = resourceGroup().location

@description('Issuer the API accepts in bearer JWTs.')
param jwtIssuer string

@description('Audience the API accepts in bearer JWTs.')
param jwtAudience string

@description('JWKS URL of the token issuer.')
param jwksUri string

@description('Maximum Flex Consumption instances (caps cost and Key Vault request rate).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Days Log Analytics keeps logs (the audit trail itself lives in Table storage).')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

var suffix = uniqueString(resourceGroup().id, appName)
var storageName = toLower('st${appName}${suffix}')
var vaultName = 'kv-${appName}-${take(suffix, 8)}'
var functionAppName = 'func-${appName}-${suffix}'
var deploymentContainer = 'app-package'
// Table and queue names: the adapters use exactly these (functions/azure/adapters).
var tableNames = [
  'certificates'
  'expiryindex'
  'notifications'
  'audit'
]
var queueNames = [
  'ivr-assignments'
  'ivr-assignments-poison'
  'expiry-notifications'
]

// Built-in role definition ids (the same in every Azure cloud).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---------------------------------------------------------------------------------------------
// Network: the Function App joins a subnet whose service endpoints are the only way into the
// storage account and the vault (both deny every other network).
// ---------------------------------------------------------------------------------------------

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${appName}-${suffix}'
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.20.0.0/24'
      ]
    }
    subnets: [
      {
        name: 'functions'
        properties: {
          addressPrefix: '10.20.0.0/26'
          networkSecurityGroup: {
            id: nsg.id
          }
          delegations: [
            {
              // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
              name: 'flex'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
            {
              service: 'Microsoft.KeyVault'
            }
          ]
        }
      }
    ]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${appName}-${suffix}'
  location: location
  properties: {
    // Outbound only (the subnet hosts the app's outbound traffic); the defaults deny inbound.
    securityRules: []
  }
}

var functionsSubnetId = vnet.properties.subnets[0].id

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${appName}-${suffix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${appName}-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    // Only Entra-authenticated ingestion: the instrumentation key alone cannot write telemetry.
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------
// Storage: Functions host state (blobs, identity-based), the app package, tables and queues.
// ---------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_43:The name is computed ('st' + appName + uniqueString, lower-cased, at most 24 characters), which always meets the naming rules; checkov cannot evaluate the functions.
  name: take(storageName, 24)
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
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for name in tableNames: {
    parent: tableService
    name: name
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in queueNames: {
    parent: queueService
    name: name
  }
]

// Read, write and delete requests on every storage service go to Log Analytics.
resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-logs'
  scope: queueService
  properties: {
    workspaceId: logs.id
    logs: [
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
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-logs'
  scope: tableService
  properties: {
    workspaceId: logs.id
    logs: [
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
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'blob-logs'
  scope: blobService
  properties: {
    workspaceId: logs.id
    logs: [
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
  }
}

// ---------------------------------------------------------------------------------------------
// Key Vault: RBAC only, soft delete with purge protection, reachable from the Functions subnet.
// ---------------------------------------------------------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
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
    workspaceId: logs.id
    logs: [
      {
        // Every key import, unwrap and delete, with the caller's identity.
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// Function App (Flex Consumption, Linux, Node 20) with a system-assigned identity.
// ---------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${appName}-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    // Instances spread over availability zones (the region must offer zones for Flex Consumption).
    zoneRedundant: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  //checkov:skip=CKV_AZURE_17:Callers authenticate with bearer JWTs validated in code (DESIGN section 4); TLS client certificates are not part of the API contract.
  //checkov:skip=CKV_AZURE_222:The v1 HTTP API is the product's public interface for tenant administrators; every route but health and openapi requires a validated JWT and per-tenant authorization.
  //checkov:skip=CKV_AZURE_212:Flex Consumption has no fixed worker count; it scales per execution (and keeps instances warm through alwaysReady, not numberOfWorkers).
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: functionsSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '20'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      // GET /v1/health under the Functions host's default 'api' route prefix (host.json).
      healthCheckPath: '/v1/health'
      cors: {
        allowedOrigins: []
      }
      appSettings: [
        {
          // Identity-based host storage: no connection string, no account key.
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          // Telemetry is sent with the managed identity (local auth is off on the component).
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        {
          name: 'RECCERT_FLOW'
          value: 'azure'
        }
        {
          name: 'RECCERT_KEY_VAULT_URL'
          value: vault.properties.vaultUri
        }
        {
          name: 'RECCERT_TABLE_ENDPOINT'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'RECCERT_QUEUE_ENDPOINT'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'RECCERT_JWT_ISSUER'
          value: jwtIssuer
        }
        {
          name: 'RECCERT_JWT_AUDIENCE'
          value: jwtAudience
        }
        {
          name: 'RECCERT_JWKS_URI'
          value: jwksUri
        }
      ]
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Role assignments: what the Function App's identity needs, each as narrow as the service allows.
// ---------------------------------------------------------------------------------------------

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
  name: guid(vault.id, functionApp.id, keyCustodianRole.id)
  scope: vault
  properties: {
    roleDefinitionId: keyCustodianRole.id
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor, per table: certificate metadata, assignment state, expiry index,
// notifications and audit are read and written by the HTTP functions, the consumer and the scan.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in tableNames: {
    name: guid(tables[i].id, functionApp.id, roles.storageTableDataContributor)
    scope: tables[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
      principalId: functionApp.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Storage Queue Data Contributor, on the queue service: the app sends events and notifications, and
// the Functions host reads, deletes and moves poison messages of the queue trigger (it needs
// queue-level rights on the poison queue it manages, so per-queue scope is too narrow).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queueService.id, functionApp.id, roles.storageQueueDataContributor)
  scope: queueService
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Owner, on the account: the Functions host keeps its locks, timer schedule
// state and keys in blob containers it creates itself (AzureWebJobsStorage__accountName), and
// Flex Consumption reads the app package from its container; Microsoft documents Owner for the
// identity-based host storage connection.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher, on the Application Insights component: Entra-authenticated
// telemetry ingestion (local auth is disabled on the component).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionApp.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = functionApp.name
output functionAppHostName string = functionApp.properties.defaultHostName
output keyVaultUri string = vault.properties.vaultUri
output storageAccountName string = storage.name
