/**
 * What the browser tests (and scripts/screenshot.ts) share: the real local server on a free port
 * with a throw-away data directory, certificates made with the openssl CLI, Debian's chromium
 * driven by playwright-core, and screenshots under test-artifacts/.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/** The repository root. */
export const ROOT = resolve(__dirname, '..', '..');
/** Where screenshots go (git-ignored). */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'browser');
export const CHROMIUM = '/usr/bin/chromium';

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** A running local server and how to reach it. */
export interface LocalServer {
  baseUrl: string;
  dataDir: string;
  /** An admin+decrypt token of the default tenant, from the server's dev route. */
  token: string;
  tenant: string;
  /** What the server printed, for failure messages. */
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `functions/local/main.ts` (what `npm start` runs) with a temp data directory and dev tokens on. */
export async function startLocalServer(env: Record<string, string> = {}): Promise<LocalServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'reccert-browser-'));
  const tenant = env.RECCERT_DEV_TENANT ?? 'demo';
  let output = '';
  // node + the tsx CLI rather than npx, so the pid we stop is the server itself.
  const child: ChildProcess = spawn(
    process.execPath,
    [require.resolve('tsx/cli'), 'functions/local/main.ts'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        RECCERT_DEV_TOKEN: '1',
        RECCERT_DEV_TENANT: tenant,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`local server exited with ${child.exitCode}:\n${output}`);
    }
    try {
      const res = await fetch(`${baseUrl}/v1/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`local server did not become healthy within 45 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const res = await fetch(`${baseUrl}/dev/token`);
  if (!res.ok) {
    await stop();
    throw new Error(`GET /dev/token answered ${res.status}`);
  }
  const { token } = (await res.json()) as { token: string };
  return { baseUrl, dataDir, token, tenant, output: () => output, stop };
}

/** Calls the API as the test's administrator (for arranging state the test is not about). */
export async function apiCall<T = unknown>(
  server: LocalServer,
  method: string,
  path: string,
  body?: unknown,
  token = server.token,
): Promise<{ status: number; body: T }> {
  const res = await fetch(server.baseUrl + path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** A certificate and key made by the openssl CLI, in their own temp directory. */
export interface CertFiles {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

/** `openssl req -x509 -newkey rsa:2048 -nodes` with the product's example DN, as the docs show. */
export function makeCertificate(cn = 'Genesys Recording', days = 365): CertFiles {
  const dir = mkdtempSync(join(tmpdir(), 'reccert-cert-'));
  const certPath = join(dir, 'c.pem');
  const keyPath = join(dir, 'k.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      // -utf8: a name beyond ASCII is taken as UTF-8, as an administrator types it.
      '-utf8',
      '-subj',
      `/CN=${cn}/C=US/ST=California/O=Genesys`,
      '-days',
      String(days),
    ],
    { stdio: 'pipe' },
  );
  return {
    dir,
    certPath,
    keyPath,
    certPem: readFileSync(certPath, 'utf8'),
    keyPem: readFileSync(keyPath, 'utf8'),
  };
}

/** Uploads a certificate through the API; returns the stored certificate object. */
export async function uploadViaApi(
  server: LocalServer,
  files: CertFiles,
): Promise<{ id: string; subjectName: string }> {
  const res = await apiCall<{ id: string; subjectName: string }>(
    server,
    'POST',
    `/v1/tenants/${server.tenant}/certificates`,
    { certificate: files.certPem, privateKey: files.keyPem },
  );
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Assigns through the API and waits until the profile has the certificate active. */
export async function assignViaApi(
  server: LocalServer,
  certificateId: string,
  profileId = 'record',
): Promise<void> {
  const base = `/v1/tenants/${server.tenant}/ivr-profiles/${profileId}`;
  const put = await apiCall(server, 'PUT', `${base}/recording-certificate`, { certificateId });
  if (put.status !== 202) throw new Error(`assign answered ${put.status}: ${JSON.stringify(put.body)}`);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const got = await apiCall<{ activeCertificateId?: string }>(server, 'GET', base);
    if (got.status === 200 && got.body.activeCertificateId === certificateId) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('assignment was not applied within 20 s');
}

/** Launches Debian's chromium headless. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

const errorsOf = new WeakMap<Page, string[]>();

/** Opens the admin page at a laptop-sized viewport, failing the test on any page error. */
export async function openPage(
  browser: Browser,
  server: LocalServer,
  hash = '#/certificates',
  options: { token?: string } = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  if (options.token) {
    // As if this tab had signed in with that token before (the page keeps it in sessionStorage).
    await context.addInitScript({
      content: `sessionStorage.setItem('reccert.token', ${JSON.stringify(options.token)});`,
    });
  }
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  errorsOf.set(page, errors);
  await page.goto(`${server.baseUrl}/${hash}`);
  return page;
}

/** Script errors the page raised so far. */
export const pageErrors = (page: Page): string[] => errorsOf.get(page) ?? [];

/** Saves a screenshot as a test artifact. */
export async function snap(page: Page, name: string, path = join(ARTIFACTS, `${name}.png`)): Promise<string> {
  mkdirSync(join(path, '..'), { recursive: true });
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Removes temp directories made by makeCertificate. */
export function cleanup(...files: CertFiles[]): void {
  for (const f of files) rmSync(f.dir, { recursive: true, force: true });
}

/** Reads a value until it passes `ok` or the time is up; returns the last value read either way. */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}
