/**
 * The API under load: the local runtime (functions/local/main.ts, started as its own process the
 * way `npm start` does, on a free 127.0.0.1 port with a temporary DATA_DIR) driven by autocannon
 * at 100 connections for list, get and upload. Uploads send distinct certificate/key pairs,
 * generated at set-up, each to a tenant it is new to, so every upload is a real 201.
 *
 *   npx tsx bench/api.ts
 *   RECCERT_BENCH_API_SECONDS=5 RECCERT_BENCH_API_RUNS=1 npx tsx bench/api.ts
 *
 * Budget: list/get p99 at or under 10 ms; at least 500 uploads/s. When a budget is missed, the
 * runtime is started once more under --cpu-prof for that route and the hottest functions are
 * listed, so the report says where the time goes.
 *
 * Client and server share this machine's cores: autocannon's own CPU use is part of the figures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { loadOrCreateTokenSecret, mintLocalToken } from '../functions/common/local-tokens';
import { freePort } from '../test/contract/harness';
import { makePair } from '../test/helpers/pki';
import { type Budget, budget, fmt, machineInfo, markdownTable, median, ROOT, report, runMain } from './lib';

const CONNECTIONS = 100;
const SECONDS = Number(process.env.RECCERT_BENCH_API_SECONDS ?? 8);
const RUNS = Number(process.env.RECCERT_BENCH_API_RUNS ?? 3);
const PAIRS = 64;
const UPLOAD_TENANTS = 160;
const SEEDED = 20;
const PROFILE_SECONDS = 5;
const ROUTE_LABELS: Record<'ceiling' | 'list' | 'get' | 'upload', string> = {
  ceiling: 'ceiling: bare node:http, same body as get (no reccert)',
  list: 'GET list (20 certificates)',
  get: 'GET one certificate',
  upload: 'POST upload (JSON, new pair each)',
};

interface Runtime {
  url: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the local runtime as `npm start` would (node + tsx), optionally under --cpu-prof. */
async function startRuntime(profileDir?: string): Promise<Runtime> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-api-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--require',
      'tsx/cjs',
      path.join(ROOT, 'functions/local/main.ts'),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`runtime exited ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/v1/health`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`runtime did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null) return done();
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(kill);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

function newKey(): Promise<KeyObject> {
  return new Promise((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (error, _pub, priv) =>
      error ? reject(error) : resolve(priv),
    ),
  );
}

interface Scenario {
  name: 'ceiling' | 'list' | 'get' | 'upload';
  p50: number[];
  p99: number[];
  rps: number[];
  non2xx: number;
  errors: number;
}

/** Upload bodies: one distinct pair each, JSON as the admin page sends it. */
async function uploadBodies(): Promise<string[]> {
  const now = new Date();
  const keys: KeyObject[] = [];
  // A few at a time: key generation shares the cores with whatever else runs.
  for (let i = 0; i < PAIRS; i += 8)
    keys.push(...(await Promise.all(Array.from({ length: Math.min(8, PAIRS - i) }, newKey))));
  return keys.map((key) => {
    const pair = makePair({ key, now });
    return JSON.stringify({ certificate: pair.certPem, privateKey: pair.keyPem });
  });
}

async function seed(url: string, token: string, tenant: string, bodies: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies.slice(0, SEEDED)) {
    const response = await fetch(`${url}/v1/tenants/${tenant}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const json = (await response.json()) as { id?: string };
    if (response.status !== 201 || !json.id) throw new Error(`seed upload failed: ${response.status}`);
    ids.push(json.id);
  }
  return ids;
}

/** A bare node:http server answering every request with `body`: this machine's ceiling. */
const BARE_SERVER = `require('node:http').createServer((q, s) => { q.resume(); s.writeHead(200, {'content-type': 'application/json'}); s.end(process.env.BODY); }).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('up'));`;

async function bareServer(body: string): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', BARE_SERVER], {
    env: { ...process.env, PORT: String(port), BODY: body },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** Runs one autocannon load of `seconds` and returns its result. */
function load(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** One round: a fresh runtime, seeded, then the three routes one after another. */
async function round(
  bodies: string[],
  scenarios: Scenario[],
  only?: Scenario['name'],
  seconds = SECONDS,
  profileDir?: string,
): Promise<void> {
  const runtime = await startRuntime(profileDir);
  try {
    const secret = loadOrCreateTokenSecret(runtime.dataDir);
    const mint = (tenant: string) =>
      mintLocalToken(secret, { subject: 'bench-admin', tenants: [tenant], roles: ['admin', 'decrypt'] });
    const token = await mint('bench');
    const ids = await seed(runtime.url, token, 'bench', bodies);
    const uploadTokens = await Promise.all(
      Array.from({ length: UPLOAD_TENANTS }, (_, t) => mint(`up-${String(t).padStart(4, '0')}`)),
    );
    const auth = { authorization: `Bearer ${token}` };
    for (const s of scenarios) {
      if (only && s.name !== only) continue;
      let n = 0;
      let options: autocannon.Options;
      let bare: { url: string; stop(): void } | undefined;
      if (s.name === 'ceiling') {
        const one = await fetch(`${runtime.url}/v1/tenants/bench/certificates/${ids[0]}`, { headers: auth });
        bare = await bareServer(await one.text());
        options = { url: `${bare.url}/`, headers: auth };
      } else if (s.name === 'list') {
        options = { url: `${runtime.url}/v1/tenants/bench/certificates`, headers: auth };
      } else if (s.name === 'get') {
        options = {
          url: runtime.url,
          requests: [
            {
              method: 'GET',
              setupRequest: (req) => ({
                ...req,
                path: `/v1/tenants/bench/certificates/${ids[n++ % ids.length]}`,
                headers: auth,
              }),
            },
          ],
        };
      } else {
        options = {
          url: runtime.url,
          requests: [
            {
              method: 'POST',
              setupRequest: (req) => {
                // Pair k goes to tenant floor(k / PAIRS): every (tenant, certificate) is new.
                const k = n++;
                const tenant = Math.floor(k / PAIRS) % UPLOAD_TENANTS;
                return {
                  ...req,
                  path: `/v1/tenants/up-${String(tenant).padStart(4, '0')}/certificates`,
                  headers: {
                    authorization: `Bearer ${uploadTokens[tenant]}`,
                    'content-type': 'application/json',
                  },
                  body: bodies[k % PAIRS],
                };
              },
            },
          ],
        };
      }
      const result = await load({ ...options, connections: CONNECTIONS, duration: seconds }).finally(() =>
        bare?.stop(),
      );
      s.p50.push(result.latency.p50);
      s.p99.push(result.latency.p99);
      s.rps.push(result.requests.average);
      s.non2xx += result.non2xx;
      s.errors += result.errors + result.timeouts;
      process.stderr.write(
        `api: ${s.name}: ${fmt(result.requests.average, 0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}\n`,
      );
      if (s.name === 'upload' && n > PAIRS * UPLOAD_TENANTS)
        throw new Error('the upload pool ran out: raise PAIRS or UPLOAD_TENANTS');
    }
  } finally {
    await runtime.stop();
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The hottest functions (self time) of the runtime's CPU profile, by share of samples. */
function hottest(profileDir: string, top = 12): Array<{ fn: string; share: number }> {
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const profile = JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as { nodes: ProfileNode[] };
  const byFn = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    // File only: under tsx the line numbers are those of the transformed source.
    const where = node.callFrame.url
      ? node.callFrame.url.replace(`file://${ROOT}/`, '').replace(/^.*node_modules\//, 'node_modules/')
      : '';
    const name = `${node.callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFn.set(name, (byFn.get(name) ?? 0) + hits);
  }
  return [...byFn.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, hits]) => ({ fn, share: hits / total }));
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const bodies = await uploadBodies();
  const scenarios: Scenario[] = (['ceiling', 'list', 'get', 'upload'] as const).map((name) => ({
    name,
    p50: [],
    p99: [],
    rps: [],
    non2xx: 0,
    errors: 0,
  }));
  for (let r = 0; r < RUNS; r++) await round(bodies, scenarios);

  const pick = (name: Scenario['name']) => scenarios.find((s) => s.name === name)!;
  const budgets: Budget[] = [
    budget('list p99', median(pick('list').p99), 'max', 10, 'ms'),
    budget('get p99', median(pick('get').p99), 'max', 10, 'ms'),
    budget('uploads per second', median(pick('upload').rps), 'min', 500, 'req/s'),
  ];
  const valid: Budget[] = scenarios.map((s) =>
    budget(`${s.name}: non-2xx + errors`, s.non2xx + s.errors, 'max', 0, 'responses'),
  );

  // Where the time goes, for each route that missed its budget.
  const profiles: Array<{ route: string; top: Array<{ fn: string; share: number }> }> = [];
  for (const [route, b] of [
    ['list', budgets[0]!],
    ['get', budgets[1]!],
    ['upload', budgets[2]!],
  ] as const) {
    if (b.met) continue;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-prof-'));
    try {
      const throwaway: Scenario[] = [{ name: route, p50: [], p99: [], rps: [], non2xx: 0, errors: 0 }];
      await round(bodies, throwaway, route, PROFILE_SECONDS, dir);
      profiles.push({ route, top: hottest(dir) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const table = markdownTable(
    ['route', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'],
    scenarios.map((s) => [
      ROUTE_LABELS[s.name],
      fmt(median(s.rps), 0),
      fmt(median(s.p50), 1),
      fmt(median(s.p99), 1),
      String(s.non2xx),
      String(s.errors),
    ]),
  );
  report(
    {
      name: 'api',
      machine: machineInfo(),
      budgets: [...budgets, ...valid],
      tables: [
        {
          title: `Local runtime under autocannon, ${CONNECTIONS} connections, ${SECONDS} s per route, median of ${RUNS} rounds (fresh runtime and data dir per round)`,
          markdown: table,
        },
        ...profiles.map((p) => ({
          title: `Where ${p.route} spends its CPU (runtime under --cpu-prof, ${PROFILE_SECONDS} s of load; self time)`,
          markdown: markdownTable(
            ['function', 'share of samples'],
            p.top.map((t) => [t.fn.replace(/\|/g, '\\|'), `${fmt(t.share * 100, 1)}%`]),
          ),
        })),
      ],
      notes: [
        `Little's law: with ${CONNECTIONS} connections always busy, p50 is about ${CONNECTIONS} / throughput, so a p99 at or under 10 ms needs well over ${CONNECTIONS / 0.01} req/s; the ceiling row is what a bare node:http server reaches on this machine under the same client.`,
        'autocannon runs in the benchmark process and the runtime in its own process: on 2 cores they compete with each other (and with anything else running).',
        `Uploads: ${PAIRS} distinct RSA-2048 pairs (PKCS#8), each sent to up to ${UPLOAD_TENANTS} tenants, so every request is a new (tenant, certificate) and answers 201.`,
      ],
      data: { connections: CONNECTIONS, seconds: SECONDS, runs: RUNS, scenarios, profiles },
    },
    started,
  );
}

runMain(main);
