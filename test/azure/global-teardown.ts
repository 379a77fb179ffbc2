/** Stops the Azurite that global-setup.ts started (by its pid, nothing else). */
import { AZURE_ENV, stopProcess } from './emulators';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __reccertAzurite?: { pid: number; workspace: string } }).__reccertAzurite;
  const pid = started?.pid ?? Number(process.env[AZURE_ENV.azuritePid]);
  if (Number.isInteger(pid) && pid > 0) await stopProcess(pid, started?.workspace);
}
