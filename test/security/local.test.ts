/** The security checks against the local server (`npm start`), with a short body idle limit and /dev/token on. */
import { BODY_IDLE_MS } from './harness';
import { describeSecurity } from './suite';

describeSecurity({
  name: 'local',
  entry: 'functions/local/main.ts',
  flow: 'aws',
  local: true,
  env: { RECCERT_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS), RECCERT_DEV_TOKEN: '1', LOG_LEVEL: 'info' },
});
