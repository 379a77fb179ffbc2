/**
 * Starts Azurite once for the whole azure jest project. Global setup runs in jest's parent process
 * before the workers are forked, so the connection string set in process.env reaches every test
 * file; the pid and workspace are kept for global-teardown.ts.
 */
import { AZURE_ENV, startAzurite } from './emulators';

export default async function globalSetup(): Promise<void> {
  const azurite = await startAzurite();
  process.env[AZURE_ENV.storageConnectionString] = azurite.connectionString;
  process.env[AZURE_ENV.azuritePid] = String(azurite.pid);
  (globalThis as { __reccertAzurite?: { pid: number; workspace: string } }).__reccertAzurite = {
    pid: azurite.pid,
    workspace: azurite.workspace,
  };
}
