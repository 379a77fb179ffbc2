/**
 * Starts one moto server for the whole aws jest project. Global setup runs in jest's parent
 * process before the workers are forked, so the endpoint set in process.env reaches every test
 * file; the pid is kept (in env and on globalThis) for global-teardown.ts.
 */
import { ensureMotoInstalled, MOTO_ENDPOINT_ENV, startMoto } from './moto';

export default async function globalSetup(): Promise<void> {
  // The SDK warns once per worker that Node 20 support ends; tests run on the machine's Node on purpose.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  ensureMotoInstalled();
  const moto = await startMoto();
  process.env[MOTO_ENDPOINT_ENV] = moto.endpoint;
  process.env.RECCERT_MOTO_PID = String(moto.pid);
  (globalThis as { __recertMotoPid?: number }).__recertMotoPid = moto.pid;
}
