/**
 * Prints the figures of the last reliability run (test/reliability writes them to
 * test-artifacts/reliability/*.json) as the Markdown table the README's Reliability section
 * quotes:  npx tsx scripts/reliability-summary.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(__dirname, '..', 'test-artifacts', 'reliability');

type Json = Record<string, unknown>;

function read(name: string): Json | undefined {
  const file = join(DIR, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Json) : undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function field(object: Json | undefined, ...path: string[]): unknown {
  let value: unknown = object;
  for (const key of path) value = (value as Json | undefined)?.[key];
  return value;
}

const rows: [string, string][] = [];
const fuzz = read('fuzz');
if (fuzz) {
  const parts = Object.entries((fuzz.parts as Record<string, Json>) ?? {})
    .map(([name, part]) => `${name} ${num(part.cases).toLocaleString('en-US')}`)
    .join(', ');
  rows.push([
    'Parser fuzzing (fast-check)',
    `${num(fuzz.totalCases).toLocaleString('en-US')} cases (${parts}); ${num(fuzz.failures)} failures`,
  ]);
}
const st = read('schemathesis');
if (st) {
  rows.push([
    `API fuzzing (schemathesis ${String(st.version)})`,
    `${num(field(st, 'testCases', 'generated')).toLocaleString('en-US')} cases over ${num(field(st, 'operations', 'tested'))} operations; ${num(st.failures)} failures`,
  ]);
}
const isolation = ['local', 'aws', 'azure']
  .map((runtime) => [runtime, read(`isolation-${runtime}`)] as const)
  .filter((entry): entry is readonly [string, Json] => entry[1] !== undefined);
if (isolation.length > 0) {
  const sum = (key: string) => isolation.reduce((total, [, figures]) => total + num(figures[key]), 0);
  const first = isolation[0]![1];
  rows.push([
    'Tenant isolation',
    `on the ${isolation.map(([runtime]) => runtime).join(', ')} runtimes: ${sum('matrixCells')} route x credential cells (${num(first.matrixCells)} each over ${num(first.matrixRoutes)} routes), ${sum('crossTenantAttempts')} cross-tenant attempts; ${sum('failures')} failures`,
  ]);
}
const conc = read('concurrency');
if (conc) {
  rows.push([
    'Concurrency',
    `${num(conc.racesRun)} races, ${num(conc.parallelRequests)} parallel requests, ${num(conc.expiryScansRun)} concurrent expiry scans, ${num(conc.duplicateDeliveries)} duplicate deliveries; 0 lost or doubled`,
  ]);
}
const faults = read('faults');
if (faults) {
  rows.push([
    'Fault injection',
    `${num(faults.faultsInjected)} faults, ${num(faults.retriesSucceeded)} retries succeeded, ${num(faults.orphanKeysLeftForSweep)} orphan keys left and ${num(faults.orphanKeysSwept)} swept; ${num(faults.unknownViolations)} violations`,
  ]);
}
const crash = read('crash');
if (crash) {
  rows.push([
    'kill -9 crash cycles',
    `${num(crash.crashCycles)} cycles, ${num(crash.uploadsAcknowledged)} acknowledged uploads all present, ${num(crash.decryptsVerified)} decrypts verified`,
  ]);
}
let bytes = 0;
let items = 0;
let hits = 0;
for (const name of ['leaks', 'concurrency', 'faults', 'crash']) {
  const scan = (field(read(name), 'scan') ?? field(read(name), 'leakScan')) as Json | undefined;
  bytes += num(scan?.bytesScanned);
  items += num(scan?.itemsScanned);
  hits += num(scan?.hits);
}
if (items > 0) {
  rows.push([
    'Private-key leak scan',
    `${items.toLocaleString('en-US')} items (responses, log lines, audit entries, data files), ${(bytes / 1e6).toFixed(1)} MB; ${hits} hits`,
  ]);
}

if (rows.length === 0) {
  console.error(`No figures in ${DIR}: run RECCERT_TEST_PROJECTS=reliability npx jest first.`);
  process.exit(1);
}
console.log('| what | last run |\n|---|---|');
for (const [what, figures] of rows) console.log(`| ${what} | ${figures} |`);
