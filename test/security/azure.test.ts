/**
 * The security checks against the Azure runtime (`npm run start:azure`: the real Functions
 * handlers behind its Functions-host stand-in) over the Azurite it starts in its data directory.
 */
import { describeSecurity } from './suite';

describeSecurity({
  name: 'azure',
  entry: 'scripts/start-azure.ts',
  flow: 'azure',
  local: false,
  startTimeoutMs: 120_000,
  env: { LOG_LEVEL: 'info' },
});
