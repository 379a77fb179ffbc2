/**
 * Cold-start weight of every Lambda function: the minified esbuild bundle, built exactly as the
 * CDK stack builds it (LAMBDA_ENTRIES and esbuildOptions() of infra/aws/bundling.ts), and the time
 * to `require` it in a fresh node process over `node -e 0`, against a naive bundle of the
 * DynamoDB, S3 and KMS clients.
 *
 *   npx tsx bench/coldstart.ts
 *
 * The deployed bundles leave the AWS SDK out (the Lambda runtime ships it), so their require time
 * here includes loading the SDK packages they import from node_modules, as the runtime would load
 * its own copy: the size is what is deployed, the time is what a cold start pays.
 *
 * Budget (non-zero exit when missed): every function at or under 300 KB and 25 ms; read-path
 * functions at or under 200 KB. KB = 1000 bytes.
 */

import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
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

interface Target {
  name: string;
  kind: 'function' | 'comparison';
  readPath: boolean;
  /** What the spawned node requires: a bundle path or a package list. */
  requires: string[];
  bytes?: number;
  gzipBytes?: number;
  /** The same entry with the SDK bundled in (what a deploy without externals would ship). */
  selfContainedBytes?: number;
  selfContainedFile?: string;
  /** External packages the bundle loads at require time. */
  externals: string[];
  wallMs: number[];
  inProcessMs: number[];
  /** require time of the bundle alone, its external packages already loaded. */
  ownCodeMs: number[];
  selfContainedMs: number[];
}

/** A node -e script that requires `preload` untimed, then `files` timed, and prints the ms. */
const CHILD = (files: string[], preload: string[] = []) =>
  `${preload.map((f) => `require(${JSON.stringify(f)});`).join('')}const t=process.hrtime.bigint();${files.map((f) => `require(${JSON.stringify(f)});`).join('')}process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;

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

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const { LAMBDA_ENTRIES, esbuildOptions } = loadBundling();
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });

  const targets: Target[] = [];
  for (const entry of LAMBDA_ENTRIES) {
    const outfile = path.join(OUT_DIR, `${entry.name}.js`);
    const built = await bundle({ ...esbuildOptions(), entryPoints: [path.join(ROOT, entry.entry)] }, outfile);
    const selfContainedFile = path.join(OUT_DIR, 'self-contained', `${entry.name}.js`);
    const selfContained = await bundle(
      { ...esbuildOptions(), external: [], entryPoints: [path.join(ROOT, entry.entry)] },
      selfContainedFile,
    );
    targets.push({
      name: entry.name,
      kind: 'function',
      readPath: entry.readPath,
      requires: [outfile],
      bytes: built.bytes,
      gzipBytes: built.gzipBytes,
      selfContainedBytes: selfContained.bytes,
      selfContainedFile,
      externals: built.externals,
      wallMs: [],
      inProcessMs: [],
      ownCodeMs: [],
      selfContainedMs: [],
    });
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
  targets.push({
    name: 'naive bundle: DynamoDB + S3 + KMS clients',
    kind: 'comparison',
    readPath: false,
    requires: [naiveFile],
    bytes: naive.bytes,
    gzipBytes: naive.gzipBytes,
    externals: [],
    wallMs: [],
    inProcessMs: [],
    ownCodeMs: [],
    selfContainedMs: [],
  });
  targets.push({
    name: 'same 3 clients from node_modules (unbundled)',
    kind: 'comparison',
    readPath: false,
    requires: sdk,
    externals: [],
    wallMs: [],
    inProcessMs: [],
    ownCodeMs: [],
    selfContainedMs: [],
  });

  const env = {
    ...process.env,
    AWS_REGION: 'us-east-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const baseline: number[] = [];
  // Interleaved: every round spawns the baseline and each target once, so drift hits all alike.
  for (let round = 0; round < SPAWNS; round++) {
    baseline.push((await runProcess(process.execPath, ['-e', '0'], { env })).ms);
    for (const t of targets) {
      const run = await runProcess(process.execPath, ['-e', CHILD(t.requires)], { env });
      t.wallMs.push(run.ms);
      t.inProcessMs.push(Number(run.stdout));
      if (t.kind !== 'function') continue;
      const own = await runProcess(process.execPath, ['-e', CHILD(t.requires, t.externals)], { env });
      t.ownCodeMs.push(Number(own.stdout));
      const whole = await runProcess(process.execPath, ['-e', CHILD([t.selfContainedFile!])], { env });
      t.selfContainedMs.push(Number(whole.stdout));
    }
  }
  const base = median(baseline);
  const overBase = (t: Target) => median(t.wallMs) - base;
  const naiveTarget = targets.find((t) => t.name.startsWith('naive'))!;

  const table = markdownTable(
    [
      'bundle',
      'minified KB',
      'gzip KB',
      'KB if SDK bundled',
      'require ms over node -e 0',
      'require ms (in-process)',
      'of which own code ms',
      'require ms if SDK bundled',
      'budget',
    ],
    targets.map((t) => [
      t.kind === 'function' ? `${t.name}${t.readPath ? ' (read path)' : ''}` : t.name,
      t.bytes === undefined ? '-' : fmt(t.bytes / KB, 1),
      t.gzipBytes === undefined ? '-' : fmt(t.gzipBytes / KB, 1),
      t.selfContainedBytes === undefined ? '-' : fmt(t.selfContainedBytes / KB, 1),
      fmt(overBase(t), 1),
      fmt(median(t.inProcessMs), 1),
      t.kind === 'function' ? fmt(median(t.ownCodeMs), 1) : '-',
      t.kind === 'function' ? fmt(median(t.selfContainedMs), 1) : '-',
      t.kind === 'function' ? `≤ ${t.readPath ? READ_PATH_BUDGET_KB : BUDGET_KB} KB, ≤ ${BUDGET_MS} ms` : '-',
    ]),
  );

  const budgets: Budget[] = [];
  for (const t of targets.filter((x) => x.kind === 'function')) {
    budgets.push(budget(`${t.name} bundle size`, t.bytes! / KB, 'max', BUDGET_KB, 'KB'));
    if (t.readPath)
      budgets.push(
        budget(`${t.name} bundle size (read path)`, t.bytes! / KB, 'max', READ_PATH_BUDGET_KB, 'KB'),
      );
    budgets.push(budget(`${t.name} require time over node -e 0`, overBase(t), 'max', BUDGET_MS, 'ms'));
  }
  const fnTimes = targets.filter((t) => t.kind === 'function').map(overBase);
  report(
    {
      name: 'coldstart',
      machine: machineInfo(),
      budgets,
      tables: [
        {
          title: `Lambda bundles (infra/aws/bundling.ts options), require time = median of ${SPAWNS} interleaved spawns minus median node -e 0 (${fmt(base, 1)} ms)`,
          markdown: table,
        },
      ],
      notes: [
        `The functions take the AWS SDK from the Lambda runtime (external), so their require time includes loading the SDK clients they import from node_modules; the naive SDK bundle alone takes ${fmt(overBase(naiveTarget), 1)} ms, the functions ${fmt(Math.min(...fnTimes), 1)}-${fmt(Math.max(...fnTimes), 1)} ms.`,
        `"own code" is the bundle's require time with its external SDK packages (${[...new Set(targets.flatMap((t) => t.externals))].join(', ')}) already loaded; "if SDK bundled" is the same entry built without externals (in-process time, size in the "KB if SDK bundled" column).`,
        `Measured on node ${process.version}; Lambda runs the nodejs22.x runtime, on a different CPU.`,
      ],
      data: { spawns: SPAWNS, baselineMs: baseline, targets },
    },
    started,
  );
}

runMain(main);
