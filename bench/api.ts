/**
 * The API under load: the local runtime (functions/local/main.ts, started as its own process the
 * way `npm start` does, on a free 127.0.0.1 port with a temporary DATA_DIR), with 20 certificates
 * in one tenant.
 *
 * - Latency at a stated load: list and get at 1,000 req/s offered at a constant rate, open loop
 *   (bench/open-loop.ts; latency from each request's due time). Budget: p99 at or under 10 ms,
 *   and the rate really served (achieved within 5% of offered).
 * - Maximum sustainable rate: closed-loop throughput under autocannon at 100 connections, as a
 *   ratio of a bare node:http server answering the same body, measured right before the route in
 *   the same round. Goals: list at least 0.3x, get at least 0.5x.
 * - Uploads: at least 500/s (closed loop, 100 connections). Uploads send distinct
 *   certificate/key pairs, generated at set-up, each to a tenant it is new to, so every upload is
 *   a real 201.
 *
 *   npx tsx bench/api.ts
 *   RECCERT_BENCH_API_SECONDS=5 RECCERT_BENCH_API_OPEN_SECONDS=5 RECCERT_BENCH_API_RUNS=1 npx tsx bench/api.ts
 *   RECCERT_BENCH_API_BASELINE=/tmp/base npx tsx bench/api.ts   (before/after, see compareWithBaseline)
 *
 * When a route misses a budget, the runtime is started once more under --cpu-prof for that route
 * and the hottest functions are listed, so the report says where the time goes
 * (RECCERT_BENCH_API_PROFILE=0 leaves that out).
 *
 * Client and server share this machine's cores: the client's own CPU use is part of the figures.
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
import { type NextRequest, type OpenLoopResult, openLoop } from './open-loop';

/** Closed loop (maximum rate, uploads): connections, seconds per load. */
const CONNECTIONS = 100;
const SECONDS = Number(process.env.RECCERT_BENCH_API_SECONDS ?? 8);
/** Open loop: the offered rate, seconds measured, most connections. */
const OFFERED = 1000;
const OPEN_SECONDS = Number(process.env.RECCERT_BENCH_API_OPEN_SECONDS ?? 10);
const OPEN_CONNECTIONS = 64;
const RUNS = Number(process.env.RECCERT_BENCH_API_RUNS ?? 3);
const PAIRS = 64;
const UPLOAD_TENANTS = 160;
const SEEDED = 20;
const PROFILE_SECONDS = 5;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS = 100;

interface Runtime {
  url: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the local runtime as `npm start` would (node + tsx), optionally under --cpu-prof. */
async function startRuntime(profileDir?: string, root = ROOT): Promise<Runtime> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-api-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--require',
      'tsx/cjs',
      path.join(root, 'functions/local/main.ts'),
    ],
    {
      cwd: root,
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

async function bareServer(body: string): Promise<{ url: string; pid: number; stop(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', BARE_SERVER], {
    env: { ...process.env, PORT: String(port), BODY: body },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => child.kill('SIGTERM') };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux): the server's CPU per
 * request is far less disturbed by other work on the machine than its throughput.
 */
function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Runs one autocannon load (closed loop: every connection sends its next request on an answer). */
function load(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** What one round measured. */
interface Round {
  /** Closed-loop req/s of each route and of the bare server answering that route's body. */
  max: { list: number; listBare: number; get: number; getBare: number; upload: number };
  /** The server process's CPU per request over each closed-loop load, microseconds. */
  cpu: { list: number; listBare: number; get: number; getBare: number; upload: number };
  /** Open-loop loads at {@link OFFERED} req/s. */
  open: { list: OpenLoopResult; get: OpenLoopResult; bare: OpenLoopResult };
  /** Non-2xx answers and errors over every load of the round (must be none). */
  failures: number;
}

/** A seeded runtime and what a load needs to address it. */
interface Seeded {
  runtime: Runtime;
  auth: Record<string, string>;
  ids: string[];
  uploadTokens: string[];
  listPath: string;
  getPath: (i: number) => string;
}

async function seeded(bodies: string[], profileDir?: string, root = ROOT): Promise<Seeded> {
  const runtime = await startRuntime(profileDir, root);
  try {
    const secret = loadOrCreateTokenSecret(runtime.dataDir);
    const mint = (tenant: string) =>
      mintLocalToken(secret, { subject: 'bench-admin', tenants: [tenant], roles: ['admin', 'decrypt'] });
    const token = await mint('bench');
    const ids = await seed(runtime.url, token, 'bench', bodies);
    const uploadTokens = await Promise.all(
      Array.from({ length: UPLOAD_TENANTS }, (_, t) => mint(`up-${String(t).padStart(4, '0')}`)),
    );
    return {
      runtime,
      auth: { authorization: `Bearer ${token}` },
      ids,
      uploadTokens,
      listPath: '/v1/tenants/bench/certificates',
      getPath: (i) => `/v1/tenants/bench/certificates/${ids[i % ids.length]}`,
    };
  } catch (error) {
    await runtime.stop();
    throw error;
  }
}

/** Closed-loop options for `route` at {@link CONNECTIONS} connections. */
function closedLoop(s: Seeded, route: 'list' | 'get' | 'upload', bodies: string[]): autocannon.Options {
  const base = { url: s.runtime.url, connections: CONNECTIONS };
  if (route === 'list') return { ...base, url: `${s.runtime.url}${s.listPath}`, headers: s.auth };
  let n = 0;
  if (route === 'get')
    return {
      ...base,
      requests: [
        { method: 'GET', setupRequest: (req) => ({ ...req, path: s.getPath(n++), headers: s.auth }) },
      ],
    };
  return {
    ...base,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          // Pair k goes to tenant floor(k / PAIRS): every (tenant, certificate) is new.
          const k = n++;
          if (k >= PAIRS * UPLOAD_TENANTS)
            throw new Error('the upload pool ran out: raise PAIRS or UPLOAD_TENANTS');
          const tenant = Math.floor(k / PAIRS);
          return {
            ...req,
            path: `/v1/tenants/up-${String(tenant).padStart(4, '0')}/certificates`,
            headers: {
              authorization: `Bearer ${s.uploadTokens[tenant]}`,
              'content-type': 'application/json',
            },
            body: bodies[k % PAIRS],
          };
        },
      },
    ],
  };
}

function log(line: string): void {
  process.stderr.write(`api: ${line}\n`);
}

/**
 * One round on a fresh runtime: the closed-loop maximum of each route right after the bare
 * server's with that route's body (so each ratio is of two figures measured back to back), then
 * the open-loop loads at {@link OFFERED} req/s, then uploads.
 */
async function round(bodies: string[]): Promise<Round> {
  const s = await seeded(bodies);
  let failures = 0;
  const cpu = { list: 0, listBare: 0, get: 0, getBare: 0, upload: 0 };
  const closed = async (
    name: keyof Round['max'],
    pid: number,
    options: autocannon.Options,
  ): Promise<number> => {
    const before = cpuSeconds(pid);
    const result = await load({ ...options, duration: SECONDS });
    cpu[name] = ((cpuSeconds(pid) - before) * 1e6) / result.requests.total;
    failures += result.non2xx + result.errors + result.timeouts;
    log(
      `${name}: closed loop ${fmt(result.requests.average, 0)} req/s, server CPU ${fmt(cpu[name], 0)} µs/request, non-2xx ${result.non2xx}`,
    );
    return result.requests.average;
  };
  const open = async (name: string, url: string, next: NextRequest): Promise<OpenLoopResult> => {
    const result = await openLoop({
      url,
      rate: OFFERED,
      seconds: OPEN_SECONDS,
      connections: OPEN_CONNECTIONS,
      next,
    });
    failures += result.non2xx + result.errors;
    log(
      `${name}: ${OFFERED} req/s offered, ${fmt(result.achieved, 0)} achieved, p50 ${fmt(result.p50)} ms, p99 ${fmt(result.p99)} ms, max ${fmt(result.max)} ms`,
    );
    return result;
  };
  try {
    const getBody = await (await fetch(`${s.runtime.url}${s.getPath(0)}`, { headers: s.auth })).text();
    const listBody = await (await fetch(`${s.runtime.url}${s.listPath}`, { headers: s.auth })).text();
    const getBare = await bareServer(getBody);
    const listBare = await bareServer(listBody);
    try {
      const pid = s.runtime.child.pid ?? 0;
      const max = {
        getBare: await closed('getBare', getBare.pid, {
          url: `${getBare.url}/`,
          headers: s.auth,
          connections: CONNECTIONS,
        }),
        get: await closed('get', pid, closedLoop(s, 'get', bodies)),
        listBare: await closed('listBare', listBare.pid, {
          url: `${listBare.url}/`,
          headers: s.auth,
          connections: CONNECTIONS,
        }),
        list: await closed('list', pid, closedLoop(s, 'list', bodies)),
        upload: 0,
      };
      const openLoads = {
        bare: await open('bare (get body)', getBare.url, () => ({ path: '/', headers: s.auth })),
        list: await open('list', s.runtime.url, () => ({ path: s.listPath, headers: s.auth })),
        get: await open('get', s.runtime.url, (i) => ({ path: s.getPath(i), headers: s.auth })),
      };
      max.upload = await closed('upload', pid, closedLoop(s, 'upload', bodies));
      return { max, cpu, open: openLoads, failures };
    } finally {
      getBare.stop();
      listBare.stop();
    }
  } finally {
    await s.runtime.stop();
  }
}

/** A route's CPU profile: the runtime under --cpu-prof for {@link PROFILE_SECONDS} s of closed-loop load. */
async function profileRoute(
  bodies: string[],
  route: 'list' | 'get' | 'upload',
): Promise<Array<{ fn: string; share: number }>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-prof-'));
  try {
    const s = await seeded(bodies, dir);
    try {
      await load({ ...closedLoop(s, route, bodies), duration: PROFILE_SECONDS });
    } finally {
      // The profile is written when the runtime exits.
      await s.runtime.stop();
    }
    return hottest(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
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

/**
 * Before and after: RECCERT_BENCH_API_BASELINE names another checkout of reccert (with its
 * node_modules), e.g. `git archive <commit> | tar -x -C /tmp/base`. Its runtime and this one are
 * seeded alike and loaded alternately, route by route and round by round, so each ratio is of
 * two figures measured back to back; no budgets are checked in this mode.
 */
async function compareWithBaseline(baseline: string, bodies: string[], started: bigint): Promise<void> {
  type Side = 'before' | 'after';
  const figures: Record<string, number[]> = {};
  const add = (key: string, value: number) => {
    figures[key] ??= [];
    figures[key].push(value);
  };
  for (let r = 0; r < RUNS; r++) {
    const sides: Record<Side, Seeded> = {
      before: await seeded(bodies, undefined, path.resolve(baseline)),
      after: await seeded(bodies),
    };
    try {
      for (const route of ['get', 'list', 'upload'] as const) {
        for (const side of ['before', 'after'] as const) {
          const s = sides[side];
          const pid = s.runtime.child.pid ?? 0;
          const before = cpuSeconds(pid);
          const result = await load({ ...closedLoop(s, route, bodies), duration: SECONDS });
          const cpu = ((cpuSeconds(pid) - before) * 1e6) / result.requests.total;
          add(`${route} ${side} req/s`, result.requests.average);
          add(`${route} ${side} cpu`, cpu);
          log(`${route} ${side}: ${fmt(result.requests.average, 0)} req/s, ${fmt(cpu, 0)} µs CPU/request`);
        }
        if (route === 'upload') continue;
        for (const side of ['before', 'after'] as const) {
          const s = sides[side];
          const next: NextRequest =
            route === 'get'
              ? (i) => ({ path: s.getPath(i), headers: s.auth })
              : () => ({ path: s.listPath, headers: s.auth });
          const result = await openLoop({
            url: s.runtime.url,
            rate: OFFERED,
            seconds: OPEN_SECONDS,
            connections: OPEN_CONNECTIONS,
            next,
          });
          add(`${route} ${side} p99`, result.p99);
          add(`${route} ${side} achieved`, result.achieved);
          log(
            `${route} ${side}: ${OFFERED} req/s offered, ${fmt(result.achieved, 0)} achieved, p99 ${fmt(result.p99)} ms`,
          );
        }
      }
    } finally {
      await Promise.all([sides.before.runtime.stop(), sides.after.runtime.stop()]);
    }
  }
  const m = (key: string) => median(figures[key] ?? []);
  const ratio = (key: string) =>
    median(
      (figures[`${key.replace('%', 'after')}`] ?? []).map(
        (a, i) => a / (figures[key.replace('%', 'before')]?.[i] ?? Number.NaN),
      ),
    );
  const rows = (['get', 'list', 'upload'] as const).flatMap((route) => [
    [
      `${route}: closed-loop req/s`,
      fmt(m(`${route} before req/s`), 0),
      fmt(m(`${route} after req/s`), 0),
      `${fmt(ratio(`${route} % req/s`))}x`,
    ],
    [
      `${route}: server CPU µs/request`,
      fmt(m(`${route} before cpu`), 0),
      fmt(m(`${route} after cpu`), 0),
      `${fmt(ratio(`${route} % cpu`))}x`,
    ],
    ...(route === 'upload' ? [] : openRows(route)),
  ]);
  function openRows(route: 'get' | 'list'): string[][] {
    return [
      [
        `${route}: achieved req/s at ${OFFERED} offered`,
        fmt(m(`${route} before achieved`), 0),
        fmt(m(`${route} after achieved`), 0),
        `${fmt(ratio(`${route} % achieved`))}x`,
      ],
      [
        `${route}: p99 ms at ${OFFERED} offered`,
        fmt(m(`${route} before p99`), 1),
        fmt(m(`${route} after p99`), 1),
        `${fmt(ratio(`${route} % p99`))}x`,
      ],
    ];
  }
  report(
    {
      name: 'api-before-after',
      machine: machineInfo(),
      budgets: [],
      tables: [
        {
          title: `Before (${baseline}) and after (this checkout), loaded alternately; closed loop at ${CONNECTIONS} connections for ${SECONDS} s, open loop ${OPEN_SECONDS} s; median of ${RUNS} rounds (ratio: median of the per-round after/before)`,
          markdown: markdownTable(['figure', 'before', 'after', 'after / before'], rows),
        },
      ],
      notes: [],
      data: { baseline, figures },
    },
    started,
  );
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const bodies = await uploadBodies();
  const baseline = process.env.RECCERT_BENCH_API_BASELINE;
  if (baseline) return compareWithBaseline(baseline, bodies, started);
  const rounds: Round[] = [];
  for (let r = 0; r < RUNS; r++) rounds.push(await round(bodies));

  const med = (f: (r: Round) => number) => median(rounds.map(f));
  const listRatio = med((r) => r.max.list / r.max.listBare);
  const getRatio = med((r) => r.max.get / r.max.getBare);
  // Sustained: the offered rate was really served (achieved within 5% of offered).
  const sustained = (f: (r: Round) => OpenLoopResult) => med((r) => f(r).achieved / f(r).offered);
  const budgets: Budget[] = [
    budget(
      `list p99 at ${OFFERED} req/s offered`,
      med((r) => r.open.list.p99),
      'max',
      10,
      'ms',
    ),
    budget(
      `get p99 at ${OFFERED} req/s offered`,
      med((r) => r.open.get.p99),
      'max',
      10,
      'ms',
    ),
    budget(
      'list: achieved / offered',
      sustained((r) => r.open.list),
      'min',
      0.95,
      'x',
    ),
    budget(
      'get: achieved / offered',
      sustained((r) => r.open.get),
      'min',
      0.95,
      'x',
    ),
    budget('list max rate / bare node:http (list body)', listRatio, 'min', 0.3, 'x'),
    budget('get max rate / bare node:http (get body)', getRatio, 'min', 0.5, 'x'),
    budget(
      'uploads per second',
      med((r) => r.max.upload),
      'min',
      500,
      'req/s',
    ),
    budget(
      'non-2xx + errors (every load)',
      rounds.reduce((n, r) => n + r.failures, 0),
      'max',
      0,
      'responses',
    ),
  ];

  // Where the time goes, for each route that missed a budget.
  const missed: Array<'list' | 'get' | 'upload'> = [];
  if (!budgets[0]!.met || !budgets[2]!.met || !budgets[4]!.met) missed.push('list');
  if (!budgets[1]!.met || !budgets[3]!.met || !budgets[5]!.met) missed.push('get');
  if (!budgets[6]!.met) missed.push('upload');
  const profiles: Array<{ route: string; top: Array<{ fn: string; share: number }> }> = [];
  if (process.env.RECCERT_BENCH_API_PROFILE !== '0')
    for (const route of missed) profiles.push({ route, top: await profileRoute(bodies, route) });

  const openRow = (label: string, f: (r: Round) => OpenLoopResult) => [
    label,
    fmt(
      med((r) => f(r).achieved),
      0,
    ),
    fmt(
      med((r) => f(r).p50),
      2,
    ),
    fmt(
      med((r) => f(r).p90),
      2,
    ),
    fmt(
      med((r) => f(r).p99),
      2,
    ),
    fmt(
      med((r) => f(r).max),
      1,
    ),
    fmt(
      med((r) => f(r).maxSendLag),
      1,
    ),
  ];
  const openTable = markdownTable(
    ['route', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'client send lag, max ms'],
    [
      openRow('bare node:http, get body (the client and machine floor)', (r) => r.open.bare),
      openRow('GET list (20 certificates)', (r) => r.open.list),
      openRow('GET one certificate', (r) => r.open.get),
    ],
  );
  const maxTable = markdownTable(
    [
      'route',
      'route req/s',
      'bare node:http req/s (same body)',
      'ratio',
      'goal',
      'server CPU µs/request (bare)',
    ],
    [
      [
        'GET list (20 certificates)',
        fmt(
          med((r) => r.max.list),
          0,
        ),
        fmt(
          med((r) => r.max.listBare),
          0,
        ),
        `${fmt(listRatio)}x`,
        '≥ 0.3x',
        `${fmt(
          med((r) => r.cpu.list),
          0,
        )} (${fmt(
          med((r) => r.cpu.listBare),
          0,
        )})`,
      ],
      [
        'GET one certificate',
        fmt(
          med((r) => r.max.get),
          0,
        ),
        fmt(
          med((r) => r.max.getBare),
          0,
        ),
        `${fmt(getRatio)}x`,
        '≥ 0.5x',
        `${fmt(
          med((r) => r.cpu.get),
          0,
        )} (${fmt(
          med((r) => r.cpu.getBare),
          0,
        )})`,
      ],
      [
        'POST upload (JSON, new pair each)',
        fmt(
          med((r) => r.max.upload),
          0,
        ),
        '',
        '',
        '≥ 500 req/s',
      ],
    ],
  );
  report(
    {
      name: 'api',
      machine: machineInfo(),
      budgets,
      tables: [
        {
          title: `Open loop: ${OFFERED} req/s offered at a constant rate (bench/open-loop.ts, up to ${OPEN_CONNECTIONS} connections), ${OPEN_SECONDS} s after 1 s of warm-up; latency from each request's due time; median of ${RUNS} rounds`,
          markdown: openTable,
        },
        {
          title: `Maximum sustainable rate: closed-loop throughput under autocannon at ${CONNECTIONS} connections, ${SECONDS} s each, the bare server right before each route; median of ${RUNS} rounds (ratio: median of the per-round ratios)`,
          markdown: maxTable,
        },
        ...profiles.map((p) => ({
          title: `Where ${p.route} spends its CPU (runtime under --cpu-prof, ${PROFILE_SECONDS} s of closed-loop load; self time)`,
          markdown: markdownTable(
            ['function', 'share of samples'],
            p.top.map((t) => [t.fn.replace(/\|/g, '\\|'), `${fmt(t.share * 100, 1)}%`]),
          ),
        })),
      ],
      notes: [
        `p99 at a stated load: requests are sent on a fixed schedule (${OFFERED} req/s) whatever the server does, and each latency counts from the request's due time, so queueing behind a slow answer is charged to the server. The bare row is what this client on this machine reaches against a server doing nothing.`,
        `Maximum sustainable rate: the throughput when ${CONNECTIONS} connections keep a request outstanding each (the server never idles; more connections no longer raise it), as a ratio of a bare node:http server answering the same bytes under the same client, measured back to back in the same round.`,
        'The client runs in the benchmark process and the runtime in its own process: on 2 cores they compete with each other (and with anything else running).',
        `Uploads: ${PAIRS} distinct RSA-2048 pairs (PKCS#8), each sent to up to ${UPLOAD_TENANTS} tenants, so every request is a new (tenant, certificate) and answers 201.`,
      ],
      data: {
        offered: OFFERED,
        openSeconds: OPEN_SECONDS,
        openConnections: OPEN_CONNECTIONS,
        connections: CONNECTIONS,
        seconds: SECONDS,
        runs: RUNS,
        rounds,
        profiles,
      },
    },
    started,
  );
}

runMain(main);
