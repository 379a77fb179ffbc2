/**
 * What every benchmark shares: machine info, medians and percentiles, markdown tables, budget
 * checks and the results file (bench/results/<name>.json, git-ignored).
 *
 * The machines are shared and noisy, so every figure is a median of several runs and every
 * comparison is a ratio of two figures measured in the same run, interleaved where possible.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

/** The machine line every results file and table carries. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryGiB: number;
  loadAverage1m: number;
  platform: string;
  kernel: string;
  node: string;
  openssl: string;
  nodeOpenssl: string;
}

export function machineInfo(): MachineInfo {
  let openssl = 'not found';
  try {
    openssl = execFileSync('openssl', ['version']).toString().trim();
  } catch {
    // reported as not found
  }
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    node: process.version,
    openssl,
    nodeOpenssl: process.versions.openssl ?? 'unknown',
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.cores} x ${m.cpuModel}, ${m.totalMemoryGiB} GiB, ${m.platform} ${m.kernel}, node ${m.node} (OpenSSL ${m.nodeOpenssl}), ${m.openssl}, load ${m.loadAverage1m}`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Milliseconds since `start` (a process.hrtime.bigint() value). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** A number with `digits` decimals, or with thousands separators when it is large. */
export function fmt(n: number | null | undefined, digits = 2): string {
  // null: a NaN that went through a results file (JSON has no NaN).
  if (n === undefined || n === null || Number.isNaN(n)) return 'n/a';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(digits);
}

/** A markdown table; numeric-looking columns are right-aligned. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const numeric = header.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^[-\d.,x% a/n<>≤≥]+$/.test(r[i] ?? '')),
  );
  return [
    `| ${header.join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** One budget of the issue: `max` means the measured figure must not exceed the limit. */
export interface Budget {
  name: string;
  measured: number;
  limit: number;
  unit: string;
  kind: 'max' | 'min';
  met: boolean;
  /** How far off, as a sentence, when missed. */
  miss?: string;
}

export function budget(
  name: string,
  measured: number,
  kind: 'max' | 'min',
  limit: number,
  unit: string,
): Budget {
  const met = Number.isFinite(measured) && (kind === 'max' ? measured <= limit : measured >= limit);
  const b: Budget = { name, measured, limit, unit, kind, met };
  if (!met) {
    b.miss =
      kind === 'max'
        ? `${fmt(measured)} ${unit} is over the limit of ${fmt(limit)} ${unit} by ${fmt(measured - limit)} ${unit} (${fmt((measured / limit - 1) * 100, 0)}% over)`
        : `${fmt(measured)} ${unit} is under the floor of ${fmt(limit)} ${unit} by ${fmt(limit - measured)} ${unit} (needs ${fmt(limit / measured)}x)`;
  }
  return b;
}

export function budgetTable(budgets: readonly Budget[]): string {
  return markdownTable(
    ['budget', 'measured', 'limit', 'met'],
    budgets.map((b) => [
      b.name,
      `${fmt(b.measured)} ${b.unit}`,
      `${b.kind === 'max' ? '≤' : '≥'} ${fmt(b.limit)} ${b.unit}`,
      b.met ? 'yes' : `**no**: ${b.miss}`,
    ]),
  );
}

/** What a benchmark writes to bench/results/<name>.json. */
export interface BenchResult {
  name: string;
  measuredAt: string;
  command: string;
  machine: MachineInfo;
  durationSeconds: number;
  budgets: Budget[];
  /** Markdown tables, in the order they are printed. */
  tables: Array<{ title: string; markdown: string }>;
  notes: string[];
  data: unknown;
}

/**
 * Prints the tables and budgets, writes bench/results/<name>.json, and sets the exit code:
 * 1 when a budget is missed (so a regression fails the run), 0 otherwise.
 */
export function report(
  result: Omit<BenchResult, 'measuredAt' | 'command' | 'durationSeconds'>,
  started: bigint,
): void {
  const full: BenchResult = {
    ...result,
    measuredAt: new Date().toISOString(),
    command: `npx tsx bench/run.ts ${result.name}`,
    durationSeconds: Math.round(msSince(started) / 100) / 10,
  };
  const out: string[] = [`\n## ${result.name}\n`, `machine: ${machineLine(result.machine)}\n`];
  for (const t of full.tables) out.push(`### ${t.title}\n\n${t.markdown}\n`);
  for (const n of full.notes) out.push(`- ${n}`);
  out.push(`\n### budgets\n\n${budgetTable(full.budgets)}\n`);
  for (const b of full.budgets.filter((x) => !x.met)) out.push(`BUDGET MISSED: ${b.name}: ${b.miss}`);
  console.log(out.join('\n'));
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, `${result.name}.json`), `${JSON.stringify(full, null, 2)}\n`);
  if (full.budgets.some((b) => !b.met)) process.exitCode = 1;
}

/** Runs a process to completion; resolves with its wall time in ms and its output. */
export function runProcess(
  cmd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ ms: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = msSince(started);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ ms, stdout, stderr });
    });
  });
}

/** Runs `main` and turns a crash into exit code 2 (a budget miss is 1). */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(2);
  });
}
