/**
 * The HTTP contract on the AWS runtime: `npm run start:aws` (the real Lambda handlers behind an
 * emulated API Gateway) over moto. The moto server belongs to this file, not to the runtime, so
 * that it outlives the runtime's restart in the durability test as an AWS account outlives its
 * functions; the runtime attaches to it through RECCERT_MOTO_ENDPOINT.
 */
import {
  ensureMotoInstalled,
  type MotoServer,
  startMoto,
  stopMoto,
} from '../../scripts/emulators/moto-server';
import { describeContract } from './suite';

let moto: MotoServer | undefined;

beforeAll(async () => {
  ensureMotoInstalled();
  moto = await startMoto();
  // The first run installs moto into .venv-moto (network-bound) before starting it (#19).
}, 480_000);

afterAll(async () => {
  if (moto) await stopMoto(moto.pid);
});

describeContract({
  name: 'aws',
  entry: 'scripts/start-aws.ts',
  flow: 'aws',
  startTimeoutMs: 120_000,
  env: {
    // Read when the harness launches the runtime (after beforeAll above started moto).
    get RECCERT_MOTO_ENDPOINT(): string {
      if (!moto) throw new Error('moto is not running');
      return moto.endpoint;
    },
  } as Record<string, string>,
});
