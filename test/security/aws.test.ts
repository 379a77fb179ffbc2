/**
 * The security checks against the AWS runtime (`npm run start:aws`: the real Lambda handlers
 * behind its API Gateway stand-in, JWT authorizer included) over the moto server global-setup.ts
 * started.
 */
import { MOTO_ENV } from './material';
import { describeSecurity } from './suite';

describeSecurity({
  name: 'aws',
  entry: 'scripts/start-aws.ts',
  flow: 'aws',
  local: false,
  startTimeoutMs: 120_000,
  env: {
    LOG_LEVEL: 'info',
    // Read when the harness launches the runtime, after global setup started moto.
    get RECCERT_MOTO_ENDPOINT(): string {
      const endpoint = process.env[MOTO_ENV];
      if (!endpoint) throw new Error(`${MOTO_ENV} is not set: run through the security jest project`);
      return endpoint;
    },
  } as Record<string, string>,
});
