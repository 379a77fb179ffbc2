/** Stops the moto server that global-setup.ts started (by its pid, nothing else). */
import { stopMoto } from './moto';

export default async function globalTeardown(): Promise<void> {
  const pid =
    (globalThis as { __recertMotoPid?: number }).__recertMotoPid ?? Number(process.env.RECCERT_MOTO_PID);
  if (Number.isInteger(pid) && pid > 0) await stopMoto(pid);
}
