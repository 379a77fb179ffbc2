/**
 * The Azure emulators for the azure test project. The start/stop helpers live in
 * scripts/emulators/azurite-server.ts, which `npm run start:azure` shares; this module adds what
 * only the tests need (how the global setup hands Azurite to the workers).
 */
export {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  type AzuriteServer,
  freePort,
  startAzurite,
  stopAzurite,
  stopProcess,
} from '../../scripts/emulators/azurite-server';

/** Environment variables the global setup hands to the test workers. */
export const AZURE_ENV = {
  storageConnectionString: 'RECCERT_TEST_AZURE_STORAGE',
  azuritePid: 'RECCERT_TEST_AZURITE_PID',
} as const;
