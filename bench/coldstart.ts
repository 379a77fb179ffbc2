/**
 * Cold-start weight of every Lambda function: the minified esbuild bundle, built exactly as the
 * CDK stack builds it (LAMBDA_ENTRIES and esbuildOptions() of infra/aws/bundling.ts), and the time
 * to load it in a fresh node process over `node -e 0`, against a naive bundle of the DynamoDB, S3
 * and KMS clients measured in the same run. For the HTTP functions (read, write, decrypt) it also
 * builds and measures the alternatives of issue 18 side by side (see VARIANTS).
 *
 *   npx tsx bench/coldstart.ts        (RECCERT_BENCH_SPAWNS=7 for a quicker, noisier run)
 *
 * The deployed bundles leave the AWS SDK out (the Lambda runtime ships it), so their times include
 * loading the SDK packages from node_modules, as the runtime loads its own copy. The HTTP
 * functions load their AWS wiring (SDK clients, adapters: handlers/<fn>-deps.ts) on the first
 * request, so besides the require time (what the budget measures) every HTTP function is also
 * measured as "require + first-call init": require, then the handler's `loadDeps()` (load the
 * SDK, build the clients and adapters) — the honest cold start, short of the network call itself.
 *
 * Budgets (non-zero exit when missed): every function at or under 300 KB, the read path at or
 * under 200 KB; every HTTP function (read, write, decrypt) at or under 25 ms of require time over
 * `node -e 0` and 0.25x the naive bundle's. KB = 1000 bytes.
 */

import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import {
  type Budget,
  budget,
  fmt,
  machineInfo,
  markdownTable,
  median,
  RESULTS_DIR,
  ROOT,
  report,
  runMain,
  runProcess,
} from './lib';

const SPAWNS = Number(process.env.RECCERT_BENCH_SPAWNS ?? 15);
const OUT_DIR = path.join(RESULTS_DIR, '.coldstart');
const KB = 1000;
const BUDGET_KB = 300;
const READ_PATH_BUDGET_KB = 200;
const BUDGET_MS = 25;
const BUDGET_RATIO = 0.25;

interface LambdaEntry {
  name: string;
  entry: string;
  readPath: boolean;
}

interface Bundling {
  LAMBDA_ENTRIES: ReadonlyArray<LambdaEntry>;
  esbuildOptions(): BuildOptions;
}

/** The stack's bundling module; the benchmark measures exactly what is deployed. */
function loadBundling(): Bundling {
  try {
    return require('../infra/aws/bundling') as Bundling;
  } catch (error) {
    throw new Error(
      `infra/aws/bundling.ts (LAMBDA_ENTRIES, esbuildOptions) could not be loaded: ${String(error)}`,
    );
  }
}

/** How an HTTP function can be built: the deployed way and the alternatives the issue names. */
interface Variant {
  key: string;
  label: string;
  /** Load the AWS wiring at require time (a static import of handlers/<fn>-deps.ts). */
  eager: boolean;
  /** SDK bundled in: ESM, module fields first, env-only credentials (option 1 of the issue). */
  sdkBundled: boolean;
}

const VARIANTS: readonly Variant[] = [
  {
    key: 'shipped',
    label: 'SDK from the runtime, loaded on first request (deployed)',
    eager: false,
    sdkBundled: false,
  },
  { key: 'eager', label: 'SDK from the runtime, loaded at require (before)', eager: true, sdkBundled: false },
  {
    key: 'esm-lazy',
    label: 'SDK bundled (ESM, env-only credentials), loaded on first request',
    eager: false,
    sdkBundled: true,
  },
  {
    key: 'esm-eager',
    label: 'SDK bundled (ESM, env-only credentials), loaded at require',
    eager: true,
    sdkBundled: true,
  },
];

/** Option 1's esbuild options over the deployed ones (the SDK bundled in, as ESM). */
function sdkBundledOptions(base: BuildOptions): BuildOptions {
  return {
    ...base,
    external: [],
    format: 'esm',
    mainFields: ['module', 'main'],
    // The credential chain is replaced by the three variables Lambda sets (measurement only).
    alias: { '@aws-sdk/credential-provider-node': './bench/coldstart-env-credentials.ts' },
    // CJS dependencies inside an ESM bundle require node built-ins through this.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  };
}

/**
 * Parts whose load a cold start pays, each required alone in a fresh process (in-process ms):
 * where the SDK's time goes, and what the alternatives to its HTTP handler cost.
 */
const PARTS: ReadonlyArray<{ label: string; script: string }> = [
  { label: 'node:https (tls, net, http)', script: "require('node:https')" },
  { label: 'node:http2', script: "require('node:http2')" },
  {
    label: '@smithy/node-http-handler (the SDK default: https + http2)',
    script: "require('@smithy/node-http-handler')",
  },
  { label: '@smithy/fetch-http-handler', script: "require('@smithy/fetch-http-handler')" },
  { label: 'global fetch, first call (loads undici)', script: "fetch('data:,').catch(() => 0)" },
  {
    label: '@aws-sdk/credential-provider-node (the default chain)',
    script: "require('@aws-sdk/credential-provider-node')",
  },
  { label: '@aws-sdk/credential-provider-env', script: "require('@aws-sdk/credential-provider-env')" },
  { label: '@aws-sdk/client-dynamodb', script: "require('@aws-sdk/client-dynamodb')" },
  { label: 'zod (whole package, unbundled; the route schemas use part of it)', script: "require('zod')" },
];

interface Sample {
  /** Spawn wall time of require only, and of require + loadDeps(). */
  wallRequire: number[];
  wallInit: number[];
  /** In-process ms of the require, and of the loadDeps() after it. */
  inRequire: number[];
  inInit: number[];
}

const emptySample = (): Sample => ({ wallRequire: [], wallInit: [], inRequire: [], inInit: [] });

interface Target {
  name: string;
  kind: 'function' | 'option' | 'comparison';
  variant?: Variant;
  readPath: boolean;
  http: boolean;
  /** A bundle file, or packages to require. */
  requires: string[];
  esm: boolean;
  bytes?: number;
  gzipBytes?: number;
  externals: string[];
  sample: Sample;
}

/**
 * A node -e script: loads `files` (require, or import() for ESM), then with `init` awaits the
 * module's loadDeps(); prints "<load ms> <init ms>". It writes with fs.writeSync: process.stdout
 * would set up a stream (net, for a pipe), a cost of the benchmark that `node -e 0` does not pay.
 */
function child(files: string[], esm: boolean, init: boolean): string {
  const load = esm
    ? `import(${JSON.stringify(pathToFileURL(files[0]!).href)})`
    : `Promise.resolve([${files.map((f) => `require(${JSON.stringify(f)})`).join(',')}][0])`;
  return `const h=()=>Number(process.hrtime.bigint())/1e6;const t=h();${load}.then(async(m)=>{const t1=h();${init ? 'await m.loadDeps();' : ''}require('fs').writeSync(1,(t1-t)+' '+(h()-t1));});`;
}

const BUILTINS = new Set(builtinModules);
const isBuiltin = (name: string) => name.startsWith('node:') || BUILTINS.has(name);

interface Built {
  bytes: number;
  gzipBytes: number;
  /** Modules the bundle leaves to the runtime (the SDK packages it imports). */
  externals: string[];
}

async function bundle(options: BuildOptions, outfile: string): Promise<Built> {
  const result = await build({ ...options, outfile, absWorkingDir: ROOT, logLevel: 'error', metafile: true });
  const externals = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imported of output.imports)
      if (imported.external && !isBuiltin(imported.path)) externals.add(imported.path);
  }
  return {
    bytes: statSync(outfile).size,
    gzipBytes: gzipSync(readFileSync(outfile)).length,
    externals: [...externals].sort(),
  };
}

/** The wiring module an HTTP function loads on first request, if it has one. */
function depsModuleOf(entry: LambdaEntry): string | undefined {
  const file = path.join(ROOT, entry.entry.replace(/\.ts$/, '-deps.ts'));
  return existsSync(file) ? file : undefined;
}

async function buildVariant(
  entry: LambdaEntry,
  variant: Variant,
  base: BuildOptions,
): Promise<{ file: string; built: Built }> {
  const options = variant.sdkBundled ? sdkBundledOptions(base) : base;
  const file = path.join(OUT_DIR, variant.key, `${entry.name}.${variant.sdkBundled ? 'mjs' : 'js'}`);
  const depsModule = depsModuleOf(entry)!;
  const input: BuildOptions = variant.eager
    ? {
        ...options,
        // The same handler with its wiring imported statically: what it was before issue 18.
        stdin: {
          contents: `export * from ${JSON.stringify(path.join(ROOT, entry.entry))};\nimport ${JSON.stringify(depsModule)};`,
          resolveDir: ROOT,
          loader: 'ts',
        },
      }
    : { ...options, entryPoints: [path.join(ROOT, entry.entry)] };
  return { file, built: await bundle(input, file) };
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const { LAMBDA_ENTRIES, esbuildOptions } = loadBundling();
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });

  const targets: Target[] = [];
  for (const entry of LAMBDA_ENTRIES) {
    const http = depsModuleOf(entry) !== undefined;
    const outfile = path.join(OUT_DIR, `${entry.name}.js`);
    const built = await bundle({ ...esbuildOptions(), entryPoints: [path.join(ROOT, entry.entry)] }, outfile);
    targets.push({
      name: entry.name,
      kind: 'function',
      readPath: entry.readPath,
      http,
      requires: [outfile],
      esm: false,
      bytes: built.bytes,
      gzipBytes: built.gzipBytes,
      externals: built.externals,
      sample: emptySample(),
    });
    if (!http) continue;
    // The deployed variant is the row above; the alternatives are built from the same entry.
    for (const variant of VARIANTS.filter((v) => v.key !== 'shipped')) {
      const { file, built: alt } = await buildVariant(entry, variant, esbuildOptions());
      targets.push({
        name: entry.name,
        kind: 'option',
        variant,
        readPath: entry.readPath,
        http,
        requires: [file],
        esm: variant.sdkBundled,
        bytes: alt.bytes,
        gzipBytes: alt.gzipBytes,
        externals: alt.externals,
        sample: emptySample(),
      });
    }
  }
  const sdk = ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3', '@aws-sdk/client-kms'];
  const naiveFile = path.join(OUT_DIR, 'naive-sdk.js');
  const naive = await bundle(
    {
      ...esbuildOptions(),
      external: [],
      stdin: {
        contents: `module.exports = [${sdk.map((p) => `require(${JSON.stringify(p)})`).join(', ')}];`,
        resolveDir: ROOT,
        loader: 'js',
      },
    },
    naiveFile,
  );
  const naiveTarget: Target = {
    name: 'naive bundle: DynamoDB + S3 + KMS clients',
    kind: 'comparison',
    readPath: false,
    http: false,
    requires: [naiveFile],
    esm: false,
    bytes: naive.bytes,
    gzipBytes: naive.gzipBytes,
    externals: [],
    sample: emptySample(),
  };
  targets.push(naiveTarget, {
    name: 'same 3 clients from node_modules (unbundled)',
    kind: 'comparison',
    readPath: false,
    http: false,
    requires: sdk,
    esm: false,
    externals: [],
    sample: emptySample(),
  });

  const env = {
    ...process.env,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // What loadDeps() reads (names only: no call is made).
    TABLE_NAME: 'coldstart',
    BUCKET_NAME: 'coldstart',
    KMS_KEY_ID: 'alias/coldstart',
    EVENT_BUS_NAME: 'coldstart',
    LOG_LEVEL: 'silent',
  };
  const baseline: number[] = [];
  const partMs: number[][] = PARTS.map(() => []);
  // Interleaved: every round spawns the baseline and each target once, so drift hits all alike.
  for (let round = 0; round < SPAWNS; round++) {
    baseline.push((await runProcess(process.execPath, ['-e', '0'], { env })).ms);
    for (const t of targets) {
      const run = await runProcess(process.execPath, ['-e', child(t.requires, t.esm, false)], { env });
      t.sample.wallRequire.push(run.ms);
      t.sample.inRequire.push(Number(run.stdout.split(' ')[0]));
      if (!t.http) continue;
      const init = await runProcess(process.execPath, ['-e', child(t.requires, t.esm, true)], { env });
      const [, initMs] = init.stdout.split(' ');
      t.sample.wallInit.push(init.ms);
      t.sample.inInit.push(Number(initMs));
    }
    for (const [i, part] of PARTS.entries()) {
      const run = await runProcess(
        process.execPath,
        [
          '-e',
          `const t=process.hrtime.bigint();${part.script};require('fs').writeSync(1,String(Number(process.hrtime.bigint()-t)/1e6));`,
        ],
        { env },
      );
      partMs[i]!.push(Number(run.stdout));
    }
  }
  const base = median(baseline);
  const overBase = (t: Target) => median(t.sample.wallRequire) - base;
  const initOverBase = (t: Target) => median(t.sample.wallInit) - base;
  const naiveMs = overBase(naiveTarget);
  const ratio = (ms: number) => ms / naiveMs;
  const sizeLimit = (t: Target) => (t.readPath ? READ_PATH_BUDGET_KB : BUDGET_KB);

  const functions = targets.filter((t) => t.kind === 'function');
  const deployedTable = markdownTable(
    [
      'bundle',
      'minified KB',
      'gzip KB',
      'require ms over node -e 0',
      'require ms (in-process)',
      'x naive',
      'require + first-call init ms over node -e 0',
      'x naive',
      'budget',
    ],
    [...functions, ...targets.filter((t) => t.kind === 'comparison')].map((t) => [
      t.kind === 'function' ? `${t.name}${t.readPath ? ' (read path)' : ''}` : t.name,
      t.bytes === undefined ? '-' : fmt(t.bytes / KB, 1),
      t.gzipBytes === undefined ? '-' : fmt(t.gzipBytes / KB, 1),
      fmt(overBase(t), 1),
      fmt(median(t.sample.inRequire), 1),
      fmt(ratio(overBase(t))),
      t.http ? fmt(initOverBase(t), 1) : '-',
      t.http ? fmt(ratio(initOverBase(t))) : '-',
      t.kind === 'function'
        ? `≤ ${sizeLimit(t)} KB, ≤ ${BUDGET_MS} ms${t.http ? `, ≤ ${BUDGET_RATIO}x naive` : ''}`
        : '-',
    ]),
  );

  const options = targets.filter((t) => t.http);
  const optionsTable = markdownTable(
    [
      'function',
      'option',
      'minified KB',
      'size budget',
      'require ms over node -e 0',
      'x naive',
      'require + first-call init ms over node -e 0',
      'x naive',
      'init alone ms (in-process)',
    ],
    options.map((t) => [
      t.name,
      (t.variant ?? VARIANTS[0]!).label,
      fmt(t.bytes! / KB, 1),
      t.bytes! / KB <= sizeLimit(t) ? `met (≤ ${sizeLimit(t)})` : `**missed** (≤ ${sizeLimit(t)})`,
      fmt(overBase(t), 1),
      fmt(ratio(overBase(t))),
      fmt(initOverBase(t), 1),
      fmt(ratio(initOverBase(t))),
      fmt(median(t.sample.inInit), 1),
    ]),
  );

  const partsTable = markdownTable(
    ['part', 'require ms (in-process, alone)'],
    PARTS.map((part, i) => [part.label, fmt(median(partMs[i]!), 1)]),
  );

  const budgets: Budget[] = [];
  for (const t of functions) {
    budgets.push(budget(`${t.name} bundle size`, t.bytes! / KB, 'max', BUDGET_KB, 'KB'));
    if (t.readPath)
      budgets.push(
        budget(`${t.name} bundle size (read path)`, t.bytes! / KB, 'max', READ_PATH_BUDGET_KB, 'KB'),
      );
    // Issue 18 budgets the HTTP functions' require time, the cold start an administrator waits
    // on; the event-driven functions' figures stay in the table, unbudgeted.
    if (!t.http) continue;
    budgets.push(budget(`${t.name} require time over node -e 0`, overBase(t), 'max', BUDGET_MS, 'ms'));
    budgets.push(
      budget(`${t.name} require time / naive SDK bundle's`, ratio(overBase(t)), 'max', BUDGET_RATIO, 'x'),
    );
  }
  report(
    {
      name: 'coldstart',
      machine: machineInfo(),
      budgets,
      tables: [
        {
          title: `Lambda bundles as deployed (infra/aws/bundling.ts), ms = median of ${SPAWNS} interleaved spawns minus median node -e 0 (${fmt(base, 1)} ms); x naive = over the naive SDK bundle's ${fmt(naiveMs, 1)} ms`,
          markdown: deployedTable,
        },
        {
          title: 'HTTP functions: the options of issue 18 side by side (same run, same spawns)',
          markdown: optionsTable,
        },
        { title: 'Where the time goes: parts loaded alone (node_modules, unbundled)', markdown: partsTable },
      ],
      notes: [
        `The deployed functions take the AWS SDK from the Lambda runtime (external: ${[...new Set(functions.flatMap((t) => t.externals))].join(', ')}); their times include loading it from node_modules.`,
        '"require + first-call init" requires the bundle and awaits its loadDeps() (load the SDK, build clients and adapters): what the first request adds before its first AWS call. The call itself (credentials, signing, TLS) is not measured: it is alike for every option.',
        'The SDK-bundled options are ESM (.mjs, loaded with import()), `mainFields: module,main`, minified, with bench/coldstart-env-credentials.ts in place of the credential provider chain.',
        `Measured on node ${process.version}; Lambda runs the nodejs22.x runtime, on a different CPU.`,
      ],
      data: {
        spawns: SPAWNS,
        baselineMs: baseline,
        targets,
        parts: PARTS.map((p, i) => ({ ...p, ms: partMs[i] })),
      },
    },
    started,
  );
}

runMain(main);
