/** Stops the moto server global-setup.ts started (by its pid) and removes the key material. */
import { rmSync } from 'node:fs';
import { stopMoto } from '../../scripts/emulators/moto-server';
import { MATERIAL_ENV, MOTO_PID_ENV } from './material';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as { __reccertSecurity?: { motoPid: number; dir: string } }).__reccertSecurity;
  const pid = started?.motoPid ?? Number(process.env[MOTO_PID_ENV]);
  if (Number.isInteger(pid) && pid > 0) await stopMoto(pid);
  const dir = started?.dir ?? process.env[MATERIAL_ENV];
  if (dir) rmSync(dir, { recursive: true, force: true });
}
