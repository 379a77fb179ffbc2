/**
 * The benchmark harness (`npm run bench`): runs the benchmarks, each in its own process,
 * then prints every budget and writes bench/results/summary.md (all tables, ready for
 * BENCHMARKS.md).
 *
 *   npx tsx bench/run.ts                       # all of them
 *   npx tsx bench/run.ts validation coldstart  # a subset, by name
 *
 * Exit code: 0 when every budget is met, 1 when one is missed (each is printed with how far off
 * it is), 2 when a benchmark could not run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { type BenchResult, budgetTable, fmt, machineInfo, machineLine, RESULTS_DIR, ROOT } from './lib';

/** Name → file; the order is the issue's. */
export const BENCHMARKS: Readonly<Record<string, string>> = {
  validation: 'bench/validation.ts',
  coldstart: 'bench/coldstart.ts',
  scan: 'bench/scan.ts',
  api: 'bench/api.ts',
  recording: 'bench/recording-crypto.ts',
  playback: 'bench/playback.ts',
  verify: 'bench/verify.ts',
  rewrap: 'bench/rewrap.ts',
  batch: 'bench/batch.ts',
};

function runOne(file: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, file)], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    child.on('error', () => resolve(2));
    child.on('close', (code) => resolve(code ?? 2));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !(a in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}`,
    );
    process.exit(2);
  }
  const names = args.length > 0 ? args : Object.keys(BENCHMARKS);
  const started = Date.now();
  console.log(`reccert benchmarks: ${names.join(', ')}\nmachine: ${machineLine(machineInfo())}`);

  const outcomes: Array<{ name: string; code: number; seconds: number; result?: BenchResult }> = [];
  for (const name of names) {
    const t = Date.now();
    const resultFile = path.join(RESULTS_DIR, `${name}.json`);
    const before = existsSync(resultFile) ? readFileSync(resultFile, 'utf8') : undefined;
    const code = await runOne(BENCHMARKS[name]!);
    const after = existsSync(resultFile) ? readFileSync(resultFile, 'utf8') : undefined;
    // A crashed benchmark must not be summarized from an older run's file.
    const fresh = after !== undefined && after !== before && code !== 2;
    outcomes.push({
      name,
      code,
      seconds: (Date.now() - t) / 1000,
      ...(fresh ? { result: JSON.parse(after) as BenchResult } : {}),
    });
  }

  const lines: string[] = ['\n# Summary\n'];
  const md: string[] = [`machine: ${machineLine(machineInfo())}\n`];
  for (const o of outcomes) {
    const status = o.code === 0 ? 'all budgets met' : o.code === 1 ? 'BUDGET MISSED' : 'FAILED TO RUN';
    lines.push(`## ${o.name}: ${status} (${fmt(o.seconds, 0)} s)`);
    if (o.result) {
      lines.push(budgetTable(o.result.budgets), '');
      md.push(
        `## ${o.name}\n`,
        `\`${o.result.command}\`, ${o.result.measuredAt}, ${fmt(o.result.durationSeconds, 0)} s\n`,
      );
      for (const t of o.result.tables) md.push(`### ${t.title}\n\n${t.markdown}\n`);
      for (const n of o.result.notes) md.push(`- ${n}`);
      md.push(`\n### Budgets\n\n${budgetTable(o.result.budgets)}\n`);
    }
  }
  lines.push(`total ${fmt((Date.now() - started) / 1000, 0)} s`);
  console.log(lines.join('\n'));
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, 'summary.md'), `${md.join('\n')}\n`);
  console.log(`tables for BENCHMARKS.md: ${path.relative(ROOT, path.join(RESULTS_DIR, 'summary.md'))}`);

  const worst = Math.max(0, ...outcomes.map((o) => (o.code === 0 ? 0 : o.code === 1 ? 1 : 2)));
  process.exit(worst);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(2);
});
