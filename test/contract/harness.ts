/**
 * Starts a runtime as its own process (the way a user would) and gives the contract suite what
 * it needs: a base URL, tokens, and a way to stop or restart it on the same data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import type { Role, UploadFlow } from '../../shared/domain/types';

const ROOT = resolve(__dirname, '../..');

export interface RuntimeSpec {
  name: string;
  /** Entry file (TypeScript) relative to the repository root. */
  entry: string;
  flow: UploadFlow;
  env?: Record<string, string>;
  /** How long start-up may take (emulators need longer). */
  startTimeoutMs?: number;
}

export interface TokenOptions {
  tenants?: string[];
  roles?: Role[];
  subject?: string;
  /** 'expired' or 'bad-signature' for the auth matrix. */
  defect?: 'expired' | 'bad-signature';
}

export interface Harness {
  name: string;
  flow: UploadFlow;
  baseUrl: string;
  dataDir: string;
  token(options?: TokenOptions): Promise<string>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Everything the process wrote to stdout and stderr so far (logs). */
  output(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

async function waitForHealth(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`runtime exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/v1/health`);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`runtime did not answer ${url}/v1/health within ${timeoutMs} ms:\n${log()}`);
}

/** Starts `spec` on a free port with a fresh data directory. */
export async function startRuntime(spec: RuntimeSpec): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), `reccert-${spec.name}-`));
  let child: ChildProcess | undefined;
  let output = '';
  let baseUrl = '';

  const launch = async () => {
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, spec.entry)], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        DATA_DIR: dataDir,
        RECCERT_FLOW: spec.flow,
        LOG_LEVEL: 'info',
        ...spec.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await waitForHealth(baseUrl, child, spec.startTimeoutMs ?? 30_000, () => output);
  };

  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((r) => {
      const kill = setTimeout(() => running.kill('SIGKILL'), 15_000);
      running.once('exit', () => {
        clearTimeout(kill);
        r();
      });
      running.kill('SIGTERM');
    });
  };

  await launch();
  const secret = loadOrCreateTokenSecret(dataDir);
  return {
    name: spec.name,
    flow: spec.flow,
    get baseUrl() {
      return baseUrl;
    },
    dataDir,
    async token(options: TokenOptions = {}) {
      const signWith = options.defect === 'bad-signature' ? randomBytes(32) : secret;
      return mintLocalToken(signWith, {
        subject: options.subject ?? 'contract-admin',
        tenants: options.tenants ?? [],
        roles: options.roles ?? ['admin', 'decrypt'],
        ...(options.defect === 'expired'
          ? { now: new Date(Date.now() - 3 * 3600_000), expiresInSeconds: 60 }
          : {}),
      });
    },
    async restart() {
      await stop();
      await launch();
    },
    stop,
    output: () => output,
  };
}
