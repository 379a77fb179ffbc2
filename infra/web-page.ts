/**
 * The admin page (web/) as both clouds host it: the `config.js` generated from a deployment's
 * outputs. The AWS stack (infra/aws/constructs/hosting.ts) and the Azure bundle script
 * (infra/azure/web-bundle.ts) use it and the one Content-Security-Policy of
 * functions/common/web-csp.ts, so the page is served alike.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The admin page's files in this repository. */
export const WEB_DIR = path.resolve(__dirname, '..', 'web');

/**
 * The deployed `config.js`: the repository's file with the stack's values laid over its
 * defaults, so the file keeps its shape (every field the page reads) whatever is added to it.
 */
export function generatedConfigJs(overrides: Record<string, unknown>, source?: string): string {
  const text = source ?? fs.readFileSync(path.join(WEB_DIR, 'config.js'), 'utf8');
  if (!/^export default \{/m.test(text))
    throw new Error('reccert: web/config.js must `export default {...}`.');
  return [
    '// Generated from the deployment outputs (infra/web-page.ts); edit web/config.js, not this copy.',
    text.replace(/^export default \{/m, 'const repositoryDefaults = {'),
    `export default { ...repositoryDefaults, ...${JSON.stringify(overrides)} };`,
    '',
  ].join('\n');
}
