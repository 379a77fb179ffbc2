/**
 * Makes sure Debian's chromium is there before the browser tests start: playwright-core ships no
 * browser, so scripts/install-chromium.sh installs the distribution package when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export default function globalSetup(): void {
  if (existsSync('/usr/bin/chromium')) return;
  execFileSync('bash', [join(__dirname, '..', '..', 'scripts', 'install-chromium.sh')], { stdio: 'inherit' });
  if (!existsSync('/usr/bin/chromium'))
    throw new Error('chromium is still missing after scripts/install-chromium.sh');
}
