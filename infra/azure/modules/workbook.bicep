// The operations workbook: the figures the alert rules watch (modules/alerts.bicep) and the
// product's own (uploads, decrypts, rewraps, the daily scan, webhook notices), from the
// Application Insights component of the Function App.

@description('Display name of the workbook.')
param displayName string

@description('Application Insights component the workbook reads.')
param applicationInsightsName string

@description('Region of the workbook.')
param location string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Title and query of each chart, in the order shown.
var charts = [
  {
    title: 'API requests and 5xx'
    query: 'requests | where isnotempty(url) | summarize requests = count(), errors5xx = countif(toint(resultCode) >= 500) by bin(timestamp, 5m)'
    visualization: 'timechart'
  }
  {
    title: 'API 5xx rate (%)'
    query: 'requests | where isnotempty(url) | summarize rate = 100.0 * countif(toint(resultCode) >= 500) / count() by bin(timestamp, 5m)'
    visualization: 'timechart'
  }
  {
    title: 'API latency p99 (ms)'
    query: 'requests | where isnotempty(url) | summarize p99 = percentile(duration, 99) by bin(timestamp, 5m)'
    visualization: 'timechart'
  }
  {
    title: 'Function failures'
    query: 'requests | where success == false and not(toint(resultCode) between (400 .. 499)) | summarize failures = count() by operation_Name, bin(timestamp, 5m)'
    visualization: 'timechart'
  }
  {
    title: 'Poison queue moves'
    query: 'traces | where message has "MaxDequeueCount" or message has "-poison" | summarize moved = count() by bin(timestamp, 1h)'
    visualization: 'timechart'
  }
  {
    title: 'Uploads, decrypts, rewraps'
    query: 'requests | where toint(resultCode) between (200 .. 299) | extend figure = case(url matches regex @"/v1/tenants/[^/]+/certificates$", "Uploads", url endswith "/recordings/decrypt", "Decrypts", url contains "/recordings/rewrap", "Rewraps", "") | where figure != "" | summarize count() by figure, bin(timestamp, 1h)'
    visualization: 'timechart'
  }
  {
    title: 'Daily expiry scan'
    query: 'traces | where message has "scheduled expiry scan" | extend run = parse_json(message) | project timestamp, scanned = toint(run.scanned), notices = toint(run.notifications)'
    visualization: 'table'
  }
  {
    title: 'Webhook notices'
    query: 'traces | where message contains "webhook notice" | summarize delivered = countif(message contains "webhook notice delivered"), failed = countif(message contains "webhook notice not delivered") by bin(timestamp, 1h)'
    visualization: 'timechart'
  }
]

var content = {
  version: 'Notebook/1.0'
  items: [
    for (chart, i) in charts: {
      type: 3
      name: 'chart-${i}'
      content: {
        version: 'KqlItem/1.0'
        title: chart.title
        query: chart.query
        size: 0
        timeContext: {
          durationMs: 604800000
        }
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: chart.visualization
      }
    }
  ]
  isLocked: false
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsights.id, 'reccert-operations')
  location: location
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string(content)
  }
}

@description('The workbook\'s resource id.')
output workbookId string = workbook.id
