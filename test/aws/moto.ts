/**
 * The moto server of the aws test project: the start/stop helpers live in
 * scripts/emulators/moto-server.ts (shared with `npm run start:aws`); this file adds how global
 * setup hands the endpoint to the test files.
 */
export {
  ensureMotoInstalled,
  freePort,
  type MotoServer,
  resetMoto,
  startMoto,
  stopMoto,
} from '../../scripts/emulators/moto-server';

/** The env var through which global setup hands the endpoint to the test files. */
export const MOTO_ENDPOINT_ENV = 'RECCERT_MOTO_ENDPOINT';

/** The endpoint of the moto server of this jest run (set by test/aws/global-setup.ts). */
export function motoEndpoint(): string {
  const endpoint = process.env[MOTO_ENDPOINT_ENV];
  if (!endpoint) throw new Error(`${MOTO_ENDPOINT_ENV} is not set: run through the aws jest project`);
  return endpoint;
}
