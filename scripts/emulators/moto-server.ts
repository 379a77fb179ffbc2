/**
 * Starts, resets and stops a real moto server (DESIGN section 8) for the aws test project and
 * for `npm run start:aws` (a dev script, so it lives outside test/). The server is a child
 * process on a free 127.0.0.1 port.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const MOTO_SERVER = path.join(ROOT, '.venv-moto', 'bin', 'moto_server');

/** A running moto server. */
export interface MotoServer {
  endpoint: string;
  pid: number;
  child: ChildProcess;
}

/** Installs the pinned moto into `.venv-moto/` unless it is already there (idempotent). */
export function ensureMotoInstalled(): void {
  execFileSync('bash', [path.join(ROOT, 'scripts', 'emulators', 'moto.sh')], { stdio: 'inherit' });
}

/** Asks the OS for a free loopback port (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Starts moto on a free port and waits until it answers. Another process may grab the probed
 * port between the probe and moto's bind, so a start that dies early is retried on a new port.
 */
export async function startMoto(options: { timeoutMs?: number } = {}): Promise<MotoServer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      // Keep only the tail: moto logs every request to stderr.
      stderr = (stderr + chunk.toString()).slice(-4_000);
    });
    let exited = false;
    child.on('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    while (!exited && Date.now() < deadline) {
      if (await answers(endpoint)) {
        // The request log is not needed once the server is up; drop it so the pipe never fills.
        child.stderr?.removeAllListeners('data');
        child.stderr?.resume();
        child.unref();
        if (child.pid === undefined) throw new Error('moto started without a pid');
        return { endpoint, pid: child.pid, child };
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    if (!exited) child.kill('SIGKILL');
    lastError = exited ? `moto exited early: ${stderr.trim()}` : `moto did not answer within ${timeoutMs} ms`;
  }
  throw new Error(lastError);
}

/** Clears every service's state in the moto server (between suites). */
export async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
}

/** Stops the moto process started by `startMoto` (by its pid only) and waits until it is gone. */
export async function stopMoto(pid: number, timeoutMs = 5_000): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
}
