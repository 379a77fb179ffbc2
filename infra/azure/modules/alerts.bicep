// Operations (issue 17): an action group that e-mails the operators, and the alert rules that
// page it: messages moved to a poison queue, failed function executions, the API's 5xx share,
// a daily expiry scan that has not run for 26 hours, and webhook notices that keep failing. Each
// rule is a log search over the Application Insights component the Function App sends to.

@description('Name of the action group.')
param actionGroupName string

@description('E-mail address the alerts go to; empty: the action group notifies nobody yet.')
param operationsEmail string

@description('Application Insights component the rules query.')
param applicationInsightsName string

@description('Region of the alert rules.')
param location string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var emailReceivers = [
  {
    name: 'operations'
    emailAddress: operationsEmail
    useCommonAlertSchema: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  properties: {
    groupShortName: 'reccertops'
    enabled: true
    emailReceivers: empty(operationsEmail) ? [] : emailReceivers
  }
}

// One log alert per figure: the query returns rows exactly when the condition holds, and the
// rule fires when there is at least one (or, for the missed scan, none).
var rules = [
  {
    name: 'poison-queue'
    displayName: 'reccert: messages moved to a poison queue'
    description: 'A queue message failed five times and was moved to a -poison queue (assignment or webhook notice); it is not retried until moved back.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT5M'
    query: 'traces | where message has "MaxDequeueCount" or message has "-poison"'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'function-failures'
    displayName: 'reccert: function executions failed'
    description: 'A function execution (HTTP, queue or timer) ended with an error.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT5M'
    query: 'requests | where success == false and not(toint(resultCode) between (400 .. 499))'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'api-5xx'
    displayName: 'reccert: API 5xx over 5% of requests'
    description: 'More than 5% of the API\'s requests were answered 5xx in 10 minutes.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT10M'
    query: 'requests | where isnotempty(url) | summarize total = count(), errors = countif(toint(resultCode) >= 500) | where total > 0 and 100.0 * errors / total > 5'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'missed-expiry-scan'
    displayName: 'reccert: no expiry scan for 26 hours'
    description: 'The daily expiry scan (timer expiryScanDaily) has not finished successfully for 26 hours.'
    severity: 1
    frequency: 'PT1H'
    window: 'PT26H'
    query: 'requests | where operation_Name == "expiryScanDaily" and success == true'
    operator: 'LessThan'
    threshold: 1
  }
  {
    name: 'webhook-failing'
    displayName: 'reccert: webhook notices failing'
    description: 'Webhook notices were not delivered for 15 minutes; they are retried from the queue until the receiver answers 2xx.'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'traces | where message contains "webhook notice" | summarize failures = countif(message contains "webhook notice not delivered"), delivered = countif(message contains "webhook notice delivered") | where failures > 0 and delivered == 0'
    operator: 'GreaterThan'
    threshold: 0
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [
  for rule in rules: {
    name: '${actionGroupName}-${rule.name}'
    location: location
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        appInsights.id
      ]
      evaluationFrequency: rule.frequency
      windowSize: rule.window
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: rule.operator
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
]

@description('The action group (more receivers can be added to it after deployment).')
output actionGroupId string = actionGroup.id
