import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { httpFunction } from '../../functions/aws/http';
import { groupsServedBy } from '../../functions/aws/routing';
import { esbuildOptions, LAMBDA_ENTRIES } from '../../infra/aws/bundling';
import { FUNCTION_NAMES } from '../../infra/aws/reccert-stack';
import { ROUTE_SPECS } from '../../shared/http/route-specs';
import { routes } from '../../shared/http/routes';

const ROOT = path.resolve(__dirname, '..', '..');
const metafiles = new Map<string, Metafile>();

/** The input files of one function's bundle (esbuild metafile, nothing written to disk). */
async function inputsOf(name: string): Promise<string[]> {
  let metafile = metafiles.get(name);
  if (metafile === undefined) {
    const entry = LAMBDA_ENTRIES.find((e) => e.name === name);
    if (entry === undefined) throw new Error(`no entry ${name}`);
    const result = await build({
      ...esbuildOptions(),
      entryPoints: [path.join(ROOT, entry.entry)],
      outfile: path.join(ROOT, '.scratch', `${name}.js`),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    metafile = result.metafile;
    metafiles.set(name, metafile);
  }
  return Object.keys(metafile.inputs);
}

describe('Lambda bundling (infra/aws/bundling.ts)', () => {
  it('lists one entry file per function of the stack', () => {
    // The API's functions, the Cognito trigger, and recording-batch (deployed when a recordings
    // bucket is configured: infra/aws/constructs/recording-batch.ts).
    expect(LAMBDA_ENTRIES.map((e) => e.name).sort()).toEqual(
      [...FUNCTION_NAMES, 'pre-token', 'recording-batch'].sort(),
    );
    expect(LAMBDA_ENTRIES.filter((e) => e.readPath).map((e) => e.name)).toEqual(['read']);
  });

  it('takes the AWS SDK from the Lambda runtime rather than bundling it', async () => {
    for (const { name } of LAMBDA_ENTRIES) {
      const inputs = await inputsOf(name);

      expect({ name, sdk: inputs.filter((f) => /node_modules\/@(aws-sdk|smithy)\//.test(f)) }).toEqual({
        name,
        sdk: [],
      });
    }
  });

  it('keeps every bundle within its size budget: 300 KB, the read path 200 KB (KB = 1000 bytes)', async () => {
    for (const entry of LAMBDA_ENTRIES) {
      await inputsOf(entry.name);
      const outputs = Object.values(metafiles.get(entry.name)!.outputs);
      const bytes = outputs.filter((o) => o.entryPoint !== undefined).reduce((sum, o) => sum + o.bytes, 0);

      expect({
        name: entry.name,
        withinBudget: bytes > 0 && bytes <= (entry.readPath ? 200_000 : 300_000),
      }).toEqual({
        name: entry.name,
        withinBudget: true,
      });
    }
  });

  it('writes metrics as EMF lines itself: no bundle carries Powertools (BENCHMARKS.md, issue 17)', async () => {
    for (const { name } of LAMBDA_ENTRIES) {
      const inputs = await inputsOf(name);

      expect({ name, powertools: inputs.filter((f) => f.includes('@aws-lambda-powertools')) }).toEqual({
        name,
        powertools: [],
      });
    }
    // The webhook delivery serves no HTTP route: no route specs, schemas or zod (the settings
    // reader shares the CORS list parser with the local server, a few hundred bytes).
    expect(
      (await inputsOf('webhook-delivery')).filter((f) =>
        /shared\/http\/(route|schema)|node_modules\/zod\//.test(f),
      ),
    ).toEqual([]);
  });

  it('carries the version as a literal, not the whole package.json', async () => {
    expect((await inputsOf('read')).filter((f) => f.endsWith('package.json'))).toEqual([]);
  });

  it('keeps other groups’ use cases out of each function', async () => {
    const read = await inputsOf('read');
    const consumer = await inputsOf('assignment-consumer');

    // The read path carries no upload, CMS decryption or expiry-scan code.
    expect(read.filter((f) => /shared\/(recording|usecases\/(recordings|expiry-scan))/.test(f))).toEqual([]);
    expect(read.filter((f) => /route-groups\/(write|decrypt|operator)/.test(f))).toEqual([]);
    // Nor key validation (verify-key is served by the write function): of shared/pki only a
    // few constants the schemas quote may remain.
    const readOutput = Object.values(metafiles.get('read')!.outputs).find((o) => o.entryPoint !== undefined)!;
    const pkiBytesInRead = Object.entries(readOutput.inputs)
      .filter(([file]) => /shared\/pki\//.test(file))
      .reduce((sum, [, { bytesInOutput }]) => sum + bytesInOutput, 0);
    expect(pkiBytesInRead).toBeLessThan(1_000);
    // The consumer serves no HTTP route: no route specs, schemas or zod.
    expect(consumer.filter((f) => /shared\/http\/|node_modules\/zod\//.test(f))).toEqual([]);
  });
});

describe('route split (shared/http/route-specs.ts, route-groups/)', () => {
  it('assembles the whole table from the groups, in the order of the specs', () => {
    expect(routes.map((r) => r.operationId)).toEqual(ROUTE_SPECS.map((s) => s.operationId));
    for (const route of routes) expect(typeof route.handle).toBe('function');
  });

  it('maps every route group to exactly one HTTP function', () => {
    const groups = (['read', 'write', 'decrypt', 'expiry-scan'] as const).flatMap(groupsServedBy);

    expect(groups.sort()).toEqual([...new Set(ROUTE_SPECS.map((s) => s.group))].sort());
  });
});

describe('httpFunction wiring (functions/aws/http.ts)', () => {
  it('refuses a function given routes other than those API Gateway sends it', () => {
    const wrong = routes.filter((r) => r.group === 'write');

    expect(() => httpFunction('read', () => ({}) as never, { routes: wrong })).toThrow(
      /the read function must serve/,
    );
  });
});
