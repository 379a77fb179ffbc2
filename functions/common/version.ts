/**
 * The service version every runtime reports. Lambda bundles get it as a literal from esbuild's
 * `define` (infra/aws/bundling.ts), so they do not carry all of package.json; elsewhere it is
 * read from package.json.
 */
declare const __RECCERT_VERSION__: string | undefined;

export const VERSION: string =
  typeof __RECCERT_VERSION__ === 'string'
    ? __RECCERT_VERSION__
    : (require('../../package.json') as { version: string }).version;
