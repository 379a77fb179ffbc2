// Monitoring: Application Insights on a Log Analytics workspace, which also receives the
// storage and vault diagnostic logs.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Region of both.')
param location string

@description('Days Log Analytics keeps logs (bounds checked in main.bicep).')
param logRetentionDays int

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    // Only Entra-authenticated ingestion: the instrumentation key alone cannot write telemetry.
    DisableLocalAuth: true
  }
}

@description('The workspace the diagnostic settings send to.')
output logAnalyticsWorkspaceId string = logs.id

@description('The component the app sends telemetry to (its connection string is read where it is used, not passed through deployment outputs).')
output applicationInsightsName string = appInsights.name
