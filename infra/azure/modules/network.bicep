// Network: the Function App joins a subnet whose service endpoints are the only way into the
// storage account and the vault (both deny every other network).

@description('Name of the virtual network.')
param vnetName string

@description('Name of the network security group of the Functions subnet.')
param nsgName string

@description('Region of the network.')
param location string

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
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
  name: nsgName
  location: location
  properties: {
    // Outbound only (the subnet hosts the app's outbound traffic); the defaults deny inbound.
    securityRules: []
  }
}

@description('The subnet the Function App integrates with; storage and vault allow only it.')
output functionsSubnetId string = vnet.properties.subnets[0].id
