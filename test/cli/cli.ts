/** Runs the real `reccert` bin as a child process, as a user's shell would. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const BIN = join(ROOT, 'bin', 'reccert.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `node bin/reccert.js ...args` in `cwd`. Asynchronous, so that a server in the test process
 * keeps answering while the CLI talks to it.
 */
export function reccert(
  args: string[],
  options: { cwd?: string; input?: string; env?: Record<string, string | undefined> } = {},
): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, RECCERT_DEBUG: undefined, DATA_DIR: undefined };
  for (const [k, v] of Object.entries(options.env ?? {})) env[k] = v;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', fail);
    child.on('close', (code) =>
      done({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(options.input ?? '');
  });
}

/** The stderr of a failed run: exactly one line, no stack trace. */
export function errorLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1 || /^\s+at /m.test(result.stderr)) {
    throw new Error(`expected one stderr line, got:\n${result.stderr}`);
  }
  return lines[0]!;
}

export function tempDir(prefix = 'reccert-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Files in `dir`, hidden ones (temporary files) included. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Runs the openssl CLI in `cwd`; returns stdout (throws with stderr on failure). */
export function openssl(args: string[], options: { cwd?: string; input?: string } = {}): string {
  return execFileSync('openssl', args, {
    cwd: options.cwd,
    input: options.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  }).toString('utf8');
}
