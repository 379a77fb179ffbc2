/**
 * Builds the Azure Functions deployment package in `dist/azure/` (`npx tsx scripts/build-azure.ts`):
 *
 * - `index.js`: functions/azure/index.ts and everything it imports, bundled by esbuild for Node 20
 *   (CommonJS). `@azure/functions-core` stays external: the Functions worker provides it.
 * - `host.json`: the repository's, unchanged.
 * - `package.json`: name, version and `"main": "index.js"`, which is how the host finds the app's
 *   registrations; no dependencies, because the bundle holds them.
 *
 * Publish the folder with `func azure functionapp publish <app> --javascript` from inside it, or
 * zip its contents for a zip deploy (docs/azure.md).
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = resolve(__dirname, '..');

/** Builds the package into `outDir` and returns the path of the bundle. */
export function buildAzurePackage(outDir = join(ROOT, 'dist', 'azure')): string {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'index.js');
  buildSync({
    entryPoints: [join(ROOT, 'functions', 'azure', 'index.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Some Azure SDK modules come in as their ESM builds and read import.meta.url, which a
    // CommonJS bundle does not have: give them the bundle's own file URL.
    define: { 'import.meta.url': '__reccertImportMetaUrl' },
    banner: { js: "const __reccertImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    sourcemap: 'linked',
    external: ['@azure/functions-core'],
    logLevel: 'warning',
  });
  copyFileSync(join(ROOT, 'host.json'), join(outDir, 'host.json'));
  const { version } = require(join(ROOT, 'package.json')) as { version: string };
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify({ name: 'reccert-azure-functions', version, private: true, main: 'index.js' }, null, 2)}\n`,
  );
  return bundle;
}

if (require.main === module) {
  const bundle = buildAzurePackage();
  process.stdout.write(`built ${bundle}\n`);
}
