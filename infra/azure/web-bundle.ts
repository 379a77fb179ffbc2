/**
 * Builds the admin page's folder for the Azure Static Web App (infra/azure/modules/hosting.bicep):
 * web/ with a `config.js` pointing at the deployed Function App, and a `staticwebapp.config.json`
 * whose global headers carry the same Content-Security-Policy, HSTS and framing rules as the AWS
 * distribution (infra/web-page.ts). Deploy the folder with the Static Web Apps CLI (docs/azure.md).
 *
 *   npx tsx infra/azure/web-bundle.ts --api https://<functionAppHostName> \
 *     --issuer https://login.microsoftonline.com/<tenant>/v2.0 --out .scratch/web-azure
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { webContentSecurityPolicy } from '../../functions/common/web-csp';
import { generatedConfigJs, WEB_DIR } from '../web-page';

/** The Static Web Apps configuration: the security headers on every response of the page. */
export function staticWebAppConfig(connectSources: readonly string[]): Record<string, unknown> {
  return {
    globalHeaders: {
      'Content-Security-Policy': webContentSecurityPolicy(connectSources),
      'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'max-age=300',
    },
    // The page is one document with hash routes: nothing to rewrite, and no route is public API.
    mimeTypes: { '.js': 'text/javascript' },
  };
}

/** The origin of a URL (scheme://host[:port]), for the CSP's connect-src. */
function originOf(url: string, what: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:') throw new Error('not https');
    return parsed.origin;
  } catch {
    throw new Error(`reccert: ${what} must be an https URL, not ${JSON.stringify(url)}.`);
  }
}

/** Writes the folder: web/ without its config.js, the generated config.js and the SWA config. */
export function writeWebBundle(options: { api: string; issuer: string; out: string }): void {
  const api = originOf(options.api, '--api');
  const issuer = originOf(options.issuer, '--issuer');
  fs.rmSync(options.out, { recursive: true, force: true });
  fs.cpSync(WEB_DIR, options.out, { recursive: true, filter: (src) => path.basename(src) !== 'config.js' });
  fs.writeFileSync(path.join(options.out, 'config.js'), generatedConfigJs({ apiBaseUrl: api }));
  fs.writeFileSync(
    path.join(options.out, 'staticwebapp.config.json'),
    `${JSON.stringify(staticWebAppConfig([api, issuer]), null, 2)}\n`,
  );
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      api: { type: 'string' },
      issuer: { type: 'string' },
      out: { type: 'string', default: '.scratch/web-azure' },
    },
  });
  if (!values.api || !values.issuer) {
    process.stderr.write(
      'usage: web-bundle.ts --api https://<functionAppHostName> --issuer <jwtIssuer> [--out dir]\n',
    );
    process.exit(2);
  }
  writeWebBundle({ api: values.api, issuer: values.issuer, out: values.out ?? '.scratch/web-azure' });
  process.stdout.write(`admin page written to ${values.out}\n`);
}
