// reccert on Azure (DESIGN sections 2, 5, 7): one Function App on Flex Consumption (Linux, Node 22)
// with a system-assigned managed identity, Key Vault holding the tenants' private keys (imported
// non-exportable, used in the vault), Table and Queue storage for metadata and events, and
// Application Insights on Log Analytics. No secrets are created or stored here: every data-plane
// call uses the Function App's identity and the narrow role assignments of modules/identity-rbac.bicep.
//
// This file names the resources and composes the modules, one thing each (as the Azure Functions
// azd samples do): network, monitoring, storage, keyvault, functionapp, identity-rbac, and for
// operations: webhook (the notices' signing key), alerts (action group and alert rules),
// workbook, and hosting (the admin page's Static Web App).
//
// Deploy: az deployment group create -g <rg> -f infra/azure/main.bicep -p jwtIssuer=... jwtAudience=... jwksUri=...
// (and jwtTenantClaim=... where the identity provider names the tenant claim otherwise;
// operationsEmail=..., webhookUrl=... webhookSigningKey=...; docs/azure.md walks through it)

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

@description('Claim of the bearer JWT that carries the tenant id (Entra ID: a directory extension, e.g. extn.reccertTenant; docs/azure.md).')
param jwtTenantClaim string = 'tenant'

@description('Claim of the bearer JWT that carries a list of tenant ids.')
param jwtTenantsClaim string = 'tenants'

@description('Claim of the bearer JWT that carries the roles admin, decrypt, operator (Entra ID app roles: roles).')
param jwtRolesClaim string = 'roles'

@description('Exact origins (scheme://host[:port]) whose pages may call the API, e.g. the admin page\'s; empty: no CORS. A wildcard is refused: bearer tokens are credentials.')
param corsOrigins array = []

@description('Maximum Flex Consumption instances (caps cost and Key Vault request rate).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('E-mail address the operations alerts go to; empty: the action group notifies nobody until a receiver is added.')
param operationsEmail string = ''

@description('HTTPS URL every expiry notice is POSTed to, signed; empty: no webhook.')
param webhookUrl string = ''

@description('The webhook signing key (16 characters or more), stored as a Key Vault secret; required with webhookUrl.')
@secure()
param webhookSigningKey string = ''

@description('Region of the admin page\'s Static Web App (offered in westus2, centralus, eastus2, westeurope and eastasia).')
param staticWebAppLocation string = 'westeurope'

@description('Days Log Analytics keeps logs (the audit trail itself lives in Table storage).')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

@description('Recording jobs (rewrap and verify at scale): the storage account of the recordings, in this resource group; empty: no recording jobs.')
param recordingsStorageAccountName string = ''

@description('Recording jobs: the containers of that account jobs may read and write, each `container` (every tenant) or `tenantId:container` (that tenant only).')
param recordingContainers array = []

var suffix = uniqueString(resourceGroup().id, appName)
var storageName = take(toLower('st${appName}${suffix}'), 24)
var vaultName = 'kv-${appName}-${take(suffix, 8)}'
var functionAppName = 'func-${appName}-${suffix}'
var deploymentContainer = 'app-package'
var webhookSecretName = 'reccert-webhook-signing-key'
// Table and queue names: the adapters use exactly these (functions/azure/adapters).
var tableNames = [
  'certificates'
  'expiryindex'
  'notifications'
  'audit'
  'recordingjobs'
]
var recordingsBlobEndpoint = empty(recordingsStorageAccountName) ? '' : 'https://${recordingsStorageAccountName}.blob.${environment().suffixes.storage}/'
var queueNames = [
  'ivr-assignments'
  'ivr-assignments-poison'
  'expiry-notifications'
  'recording-jobs'
  'recording-jobs-poison'
]

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    vnetName: 'vnet-${appName}-${suffix}'
    nsgName: 'nsg-${appName}-${suffix}'
    location: location
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${appName}-${suffix}'
    applicationInsightsName: 'appi-${appName}-${suffix}'
    location: location
    logRetentionDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageName
    location: location
    functionsSubnetId: network.outputs.functionsSubnetId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    deploymentContainerName: deploymentContainer
    tableNames: tableNames
    queueNames: queueNames
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: vaultName
    location: location
    functionsSubnetId: network.outputs.functionsSubnetId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    planName: 'plan-${appName}-${suffix}'
    name: functionAppName
    location: location
    functionsSubnetId: network.outputs.functionsSubnetId
    storageAccountName: storage.outputs.name
    deploymentStorageUrl: '${storage.outputs.blobEndpoint}${deploymentContainer}'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultUri: keyVault.outputs.uri
    tableEndpoint: storage.outputs.tableEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    jwtIssuer: jwtIssuer
    jwtAudience: jwtAudience
    jwksUri: jwksUri
    jwtTenantClaim: jwtTenantClaim
    jwtTenantsClaim: jwtTenantsClaim
    jwtRolesClaim: jwtRolesClaim
    maximumInstanceCount: maximumInstanceCount
    corsOrigins: corsOrigins
    webhookUrl: webhookUrl
    recordingsBlobEndpoint: recordingsBlobEndpoint
    recordingContainers: recordingContainers
    // A reference to the latest version of the secret (created by the webhook module below).
    webhookSecretUri: empty(webhookSigningKey) ? '' : '${keyVault.outputs.uri}secrets/${webhookSecretName}'
  }
}

module identityRbac 'modules/identity-rbac.bicep' = {
  name: 'identity-rbac'
  params: {
    appName: appName
    principalId: functionApp.outputs.principalId
    functionAppId: functionApp.outputs.id
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
    tableNames: tableNames
    recordingsStorageAccountName: recordingsStorageAccountName
    recordingContainers: recordingContainers
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module webhook 'modules/webhook.bicep' = {
  name: 'webhook'
  params: {
    keyVaultName: keyVault.outputs.name
    secretName: webhookSecretName
    signingKey: webhookSigningKey
    principalId: functionApp.outputs.principalId
    functionAppId: functionApp.outputs.id
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    actionGroupName: 'ag-${appName}-${suffix}'
    operationsEmail: operationsEmail
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    displayName: 'reccert operations (${appName})'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
  }
}

module hosting 'modules/hosting.bicep' = {
  name: 'hosting'
  params: {
    name: 'stapp-${appName}-${suffix}'
    location: staticWebAppLocation
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output keyVaultUri string = keyVault.outputs.uri
output storageAccountName string = storage.outputs.name
output adminPageHostName string = hosting.outputs.defaultHostname
output staticWebAppName string = 'stapp-${appName}-${suffix}'
