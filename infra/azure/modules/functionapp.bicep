// The Function App: Flex Consumption (Linux, Node 22) with a system-assigned managed identity.
// Every data-plane call (Key Vault, Table, Queue, the host's own storage, Application Insights)
// uses that identity; no connection string with a key and no secret is set here.

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the Function App.')
param name string

@description('Region of the plan and the app.')
param location string

@description('Subnet the app integrates with (its outbound traffic to storage and vault).')
param functionsSubnetId string

@description('Storage account of the Functions host state (identity-based).')
param storageAccountName string

@description('Blob container URL the app package is deployed to.')
param deploymentStorageUrl string

@description('Application Insights component the app sends telemetry to (with its managed identity).')
param applicationInsightsName string

@description('RECCERT_KEY_VAULT_URL: the vault of the tenant keys.')
param keyVaultUri string

@description('RECCERT_TABLE_ENDPOINT: the table endpoint of the storage account.')
param tableEndpoint string

@description('RECCERT_QUEUE_ENDPOINT: the queue endpoint of the storage account.')
param queueEndpoint string

@description('Issuer the API accepts in bearer JWTs.')
param jwtIssuer string

@description('Audience the API accepts in bearer JWTs.')
param jwtAudience string

@description('JWKS URL of the token issuer.')
param jwksUri string

@description('RECCERT_JWT_TENANT_CLAIM: the claim that carries the tenant id.')
param jwtTenantClaim string

@description('RECCERT_JWT_TENANTS_CLAIM: the claim that carries a list of tenant ids.')
param jwtTenantsClaim string

@description('RECCERT_JWT_ROLES_CLAIM: the claim that carries the roles.')
param jwtRolesClaim string

@description('Maximum Flex Consumption instances (bounds checked in main.bicep).')
param maximumInstanceCount int

@description('Exact origins whose pages may call the API (CORS); no wildcard: bearer tokens are credentials.')
param corsOrigins array

@description('RECCERT_WEBHOOK_URL: where expiry notices are POSTed; empty: no webhook.')
param webhookUrl string

@description('Key Vault secret URI of the webhook signing key (RECCERT_WEBHOOK_SECRET as a Key Vault reference); empty: none.')
param webhookSecretUri string

@description('RECCERT_BLOB_ENDPOINT: the blob endpoint of the recordings account; empty: no recording jobs.')
param recordingsBlobEndpoint string

@description('RECCERT_RECORDING_CONTAINERS: the containers recording jobs may read and write.')
param recordingContainers array

var baseSettings = [
  {
    // Identity-based host storage: no connection string, no account key.
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
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
    value: keyVaultUri
  }
  {
    name: 'RECCERT_TABLE_ENDPOINT'
    value: tableEndpoint
  }
  {
    name: 'RECCERT_QUEUE_ENDPOINT'
    value: queueEndpoint
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
    name: 'RECCERT_CORS_ORIGINS'
    value: join(corsOrigins, ',')
  }
  {
    name: 'RECCERT_JWKS_URI'
    value: jwksUri
  }
  {
    name: 'RECCERT_JWT_TENANT_CLAIM'
    value: jwtTenantClaim
  }
  {
    name: 'RECCERT_JWT_TENANTS_CLAIM'
    value: jwtTenantsClaim
  }
  {
    name: 'RECCERT_JWT_ROLES_CLAIM'
    value: jwtRolesClaim
  }
]

// The webhook settings only when a webhook is configured: the notice queue's function is
// registered only then (functions/azure/index.ts), and the secret is a Key Vault reference, so
// its value is in no app setting.
var webhookSettingList = [
  {
    name: 'RECCERT_WEBHOOK_URL'
    value: webhookUrl
  }
  {
    name: 'RECCERT_WEBHOOK_SECRET'
    value: '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
  }
]
var webhookSettings = empty(webhookUrl) ? [] : webhookSettingList

// Recording jobs only when a recordings account is named (functions/azure/handlers/recording-jobs.ts).
var recordingJobSettingList = [
  {
    name: 'RECCERT_BLOB_ENDPOINT'
    value: recordingsBlobEndpoint
  }
  {
    name: 'RECCERT_RECORDING_CONTAINERS'
    value: join(recordingContainers, ',')
  }
]
var recordingJobSettings = empty(recordingsBlobEndpoint) ? [] : recordingJobSettingList

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
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
  name: name
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
          value: deploymentStorageUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      // Node.js 22 (LTS): Node 20 reached end of life in April 2026. The code is tested on 20 and
      // bundled for 22 on Lambda; it uses nothing that differs between the two.
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      // GET /v1/health under the Functions host's default 'api' route prefix (host.json).
      healthCheckPath: '/v1/health'
      // The host answers preflights and adds Access-Control-Allow-Origin for these origins; the
      // app adds Access-Control-Expose-Headers itself (no host setting), from the same list.
      cors: {
        allowedOrigins: corsOrigins
        supportCredentials: false
      }
      appSettings: concat(baseSettings, webhookSettings, recordingJobSettings)
    }
  }
}

@description('The app name (func azure functionapp publish).')
output name string = functionApp.name

@description('The app resource id (role assignment names are derived from it).')
output id string = functionApp.id

@description('The app host name.')
output defaultHostName string = functionApp.properties.defaultHostName

@description('The system-assigned identity every role assignment is for.')
output principalId string = functionApp.identity.principalId
