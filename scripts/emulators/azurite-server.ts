/**
 * Starts and stops Azurite (npm dev dependency, pinned in package.json: 3.35.0 is the last release
 * for Node 20) for the azure test project and for `npm run start:azure`: Table, Queue and Blob
 * storage as one child process on free 127.0.0.1 ports, in memory or persisted to a folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const AZURITE = path.join(ROOT, 'node_modules', '.bin', 'azurite');

/**
 * Azurite's fixed development account. Its key is published in Microsoft's documentation and
 * accepted only by the emulators: it is not a secret.
 */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite. */
export interface AzuriteServer {
  blobEndpoint: string;
  queueEndpoint: string;
  tableEndpoint: string;
  /** A connection string for all three services (http, the well-known dev account). */
  connectionString: string;
  pid: number;
  child: ChildProcess;
  /**
   * Azurite's working folder: a temporary one (empty with in-memory persistence, removed on stop),
   * or the `location` it was given (its data, kept).
   */
  workspace: string;
  /** Whether `workspace` is a temporary folder that {@link stopAzurite} removes. */
  temporary: boolean;
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

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Options of {@link startAzurite}. */
export interface AzuriteOptions {
  timeoutMs?: number;
  /**
   * A folder to keep Azurite's data in (created if missing), so it survives a restart; without
   * it the data lives in memory only and is gone when Azurite stops.
   */
  location?: string;
}

/**
 * Starts Azurite on three free ports and waits until all three accept connections. Another
 * process may take a probed port before Azurite binds it, so an early exit is retried on new ports.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const location = options.location === undefined ? undefined : path.resolve(options.location);
  if (location !== undefined) fs.mkdirSync(location, { recursive: true, mode: 0o700 });
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
    const workspace = location ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-azurite-'));
    const child = spawn(
      AZURITE,
      [
        '--silent',
        ...(location === undefined ? ['--inMemoryPersistence'] : ['--location', location]),
        // The SDKs here may speak a newer storage API version than Azurite 3.35 knows.
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(blobPort),
        '--queueHost',
        '127.0.0.1',
        '--queuePort',
        String(queuePort),
        '--tableHost',
        '127.0.0.1',
        '--tablePort',
        String(tablePort),
      ],
      // Azurite refuses --location together with --inMemoryPersistence; the cwd keeps anything it
      // may still write (nothing in memory mode) out of the work tree.
      { cwd: workspace, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
    });
    let exited = false;
    child.on('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    while (!exited && Date.now() < deadline) {
      const up = await Promise.all([listening(blobPort), listening(queuePort), listening(tablePort)]);
      if (up.every(Boolean)) {
        child.stderr?.removeAllListeners('data');
        child.stderr?.resume();
        child.unref();
        if (child.pid === undefined) throw new Error('Azurite started without a pid');
        const blobEndpoint = `http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT}`;
        const queueEndpoint = `http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT}`;
        const tableEndpoint = `http://127.0.0.1:${tablePort}/${AZURITE_ACCOUNT}`;
        const connectionString = [
          'DefaultEndpointsProtocol=http',
          `AccountName=${AZURITE_ACCOUNT}`,
          `AccountKey=${AZURITE_KEY}`,
          `BlobEndpoint=${blobEndpoint}`,
          `QueueEndpoint=${queueEndpoint}`,
          `TableEndpoint=${tableEndpoint}`,
        ].join(';');
        return {
          blobEndpoint,
          queueEndpoint,
          tableEndpoint,
          connectionString,
          pid: child.pid,
          child,
          workspace,
          temporary: location === undefined,
        };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    lastError = exited ? `Azurite exited early: ${stderr.trim()}` : 'Azurite did not answer in time';
    if (!exited) await stopProcess(child.pid);
    if (location === undefined) fs.rmSync(workspace, { recursive: true, force: true });
  }
  throw new Error(lastError);
}

/**
 * Stops a process this module started, by its pid only (SIGTERM, then SIGKILL after 5 s), and
 * removes Azurite's workspace if given.
 */
export async function stopProcess(pid: number | undefined, workspace?: string): Promise<void> {
  if (pid !== undefined && pid > 0) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && alive(pid)) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  if (workspace !== undefined) fs.rmSync(workspace, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops an Azurite started by {@link startAzurite}; removes its folder only if it was temporary. */
export async function stopAzurite(
  server: Pick<AzuriteServer, 'pid' | 'workspace' | 'temporary'>,
): Promise<void> {
  await stopProcess(server.pid, server.temporary ? server.workspace : undefined);
}
