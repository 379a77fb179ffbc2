/** The service version every runtime reports (bundled from package.json at build time). */
export const VERSION: string = (require('../../package.json') as { version: string }).version;
