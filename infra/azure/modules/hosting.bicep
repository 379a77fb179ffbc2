// The admin page beside the Azure deployment: a Static Web App serving web/ (built by
// infra/azure/web-bundle.ts with config.js and staticwebapp.config.json). Of the two hosting
// options, a Static Web App is the one that can send the page's security headers: its
// globalHeaders set Content-Security-Policy, Strict-Transport-Security and X-Frame-Options on
// every response. A Storage static website sends no custom header at all (a CSP could only be a
// <meta> tag, which cannot carry frame-ancestors, and HSTS not at all) without a Front Door or
// CDN rule set in front of it, and it would need the storage firewall opened to the internet.

@description('Name of the Static Web App.')
param name string

@description('Region of the Static Web App (the service is offered in a few regions only).')
param location string

resource site 'Microsoft.Web/staticSites@2023-12-01' = {
  name: name
  location: location
  sku: {
    name: 'Free'
    tier: 'Free'
  }
  properties: {
    // The content is uploaded with the deployment token (docs/azure.md), not from a repository.
    provider: 'None'
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
    enterpriseGradeCdnStatus: 'Disabled'
  }
}

@description('Host name the page is served on (https).')
output defaultHostname string = site.properties.defaultHostname
