/**
 * The local server against hostile HTTP (DESIGN section 9): broken bodies, stalled bodies,
 * foreign Host headers, and the modes of what it writes to its data directory. The runtime runs
 * in this process with a short body-idle limit, and requests go over raw sockets where the test
 * needs to control every byte.
 */
import { readdirSync, statSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { HTTP_SERVER_OPTIONS, hostChecker, limitIdleConnections } from '../../functions/common/http-server';
import { mintLocalToken } from '../../functions/common/local-tokens';
import { readLocalConfig } from '../../functions/local/config';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import type { Role } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import { makePair, tempDir } from '../helpers/pki';

const IDLE_MS = 1_500;

interface RawResult {
  status: number;
  head: string;
  body: string;
  /** Milliseconds from connecting until the server closed the connection. */
  closedAfterMs: number;
}

/** Sends `request` as raw bytes and resolves when the server closes the connection. */
function raw(port: number, request: string | Buffer, timeoutMs = 20_000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body,
        closedAfterMs: Date.now() - started,
      });
    });
    socket.write(request);
  });
}

function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

describe('local server under hostile HTTP', () => {
  let runtime: LocalRuntime;
  let port: number;
  let dataDir: string;
  const tenant = 'acme';
  const token = (roles: Role[]) => mintLocalToken(runtime.tokenSecret, { tenants: [tenant], roles });

  beforeAll(async () => {
    dataDir = join(tempDir(), 'data');
    const config = readLocalConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      RECCERT_DEV_TOKEN: '1',
      RECCERT_BODY_IDLE_TIMEOUT_MS: String(IDLE_MS),
      LOG_LEVEL: 'silent',
    });
    runtime = await startLocalRuntime(config, jsonLogger('silent'));
    port = Number(new URL(runtime.url).port);
  });

  afterAll(async () => {
    await runtime?.close();
  });

  const host = () => `127.0.0.1:${port}`;

  it('regression #1: answers the truncated multipart body of the security test with 400 and stays up', async () => {
    const pair = makePair({ now: new Date() });
    const admin = await token(['admin', 'decrypt']);
    const form = new FormData();
    form.append('certificate', new Blob([pair.certPem]), 'c.pem');
    form.append('privateKey', new Blob([pair.keyPem]), 'k.pem');
    const uploaded = await fetch(`${runtime.url}/v1/tenants/${tenant}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
      body: form,
    });
    expect(uploaded.status).toBe(201);
    const { id } = (await uploaded.json()) as { id: string };
    const truncated = '--X\r\nContent-Disposition: form-data; name="privateKey"; filename="k"\r\n\r\nabc';

    const results = [];
    for (const path of [`certificates/${id}/verify-key`, 'certificates/preview', 'certificates']) {
      const res = await fetch(`${runtime.url}/v1/tenants/${tenant}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'multipart/form-data; boundary=X' },
        body: truncated,
      });
      results.push({
        status: res.status,
        code: ((await res.json()) as { error: { code: string } }).error.code,
      });
    }

    expect(results).toEqual(results.map(() => ({ status: 400, code: 'VALIDATION_ERROR' })));
    expect((await fetch(`${runtime.url}/v1/health`)).status).toBe(200);
  });

  it('regression: keeps an idle keep-alive connection past Node’s 5 s, so a client busy for a few seconds does not write into a closed socket', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request(`${runtime.url}/v1/health`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end();
      });

    const first = await get();
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const second = await get();
    agent.destroy();

    expect(first).toEqual({ status: 200, reused: false });
    expect(second).toEqual({ status: 200, reused: true });
  }, 30_000);

  it('regression #9: closes 50 stalled bodies with 408 within the idle limit while health answers', async () => {
    const admin = await token(['admin']);
    const head = requestHead('POST', `/v1/tenants/${tenant}/certificates`, {
      host: host(),
      authorization: `Bearer ${admin}`,
      'content-type': 'multipart/form-data; boundary=X',
      'content-length': 5_000,
    });
    const partOfBody =
      '--X\r\nContent-Disposition: form-data; name="certificate"; filename="c"\r\n\r\n-----BEGIN';

    const stalled = Array.from({ length: 50 }, () => raw(port, head + partOfBody));
    await new Promise((r) => setTimeout(r, IDLE_MS / 3));
    const healthStarted = Date.now();
    const health = await fetch(`${runtime.url}/v1/health`);
    const healthMs = Date.now() - healthStarted;
    const results = await Promise.all(stalled);

    expect(health.status).toBe(200);
    expect(healthMs).toBeLessThan(IDLE_MS);
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([408]));
    expect(JSON.parse(results[0]!.body).error.code).toBe('REQUEST_TIMEOUT');
    // Closed after the idle limit, not after the 30-minute request limit (generous for a busy machine).
    expect(Math.max(...results.map((r) => r.closedAfterMs))).toBeLessThan(IDLE_MS + 8_000);
  });

  it('regression #9: answers an unauthenticated upload whose body never comes with 401 at once and closes', async () => {
    const started = Date.now();
    const res = await raw(
      port,
      requestHead('POST', `/v1/tenants/${tenant}/certificates`, {
        host: host(),
        'content-type': 'application/json',
        'content-length': 60_000,
      }),
    );

    // A 401 rather than the 408 of the idle limit: the server did not wait for the body; and
    // the connection was closed (raw() fails on one left open).
    expect(res.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(IDLE_MS + 8_000);
  });

  it('lets a client still sending its body read the early answer instead of a reset', async () => {
    const started = Date.now();
    const res = await fetch(`${runtime.url}/v1/tenants/${tenant}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(['decrypt'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ certificate: 'x'.repeat(60_000) }),
    });

    expect(res.status).toBe(403);
    expect(Date.now() - started).toBeLessThan(IDLE_MS + 8_000);
  });

  it('answers a wrong role and a declared oversized body at once (403, 413) and closes', async () => {
    const reader = await token(['decrypt']);
    const admin = await token(['admin']);
    const forbidden = raw(
      port,
      requestHead('POST', `/v1/tenants/${tenant}/certificates`, {
        host: host(),
        authorization: `Bearer ${reader}`,
        'content-type': 'application/json',
        'content-length': 60_000,
      }),
    );
    const tooLarge = raw(
      port,
      requestHead('POST', `/v1/tenants/${tenant}/certificates`, {
        host: host(),
        authorization: `Bearer ${admin}`,
        'content-type': 'application/json',
        'content-length': 10_000_000,
      }),
    );

    const results = await Promise.all([forbidden, tooLarge]);

    expect(results.map((r) => r.status)).toEqual([403, 413]);
  });

  it('refuses headers over 16 KiB with 431 and keeps answering', async () => {
    const res = await raw(
      port,
      requestHead('GET', '/v1/health', { host: host(), 'x-pad': 'a'.repeat(20_000) }),
    );

    expect(res.status).toBe(431);
    expect((await fetch(`${runtime.url}/v1/health`)).status).toBe(200);
  });

  it('regression #13: answers GET /dev/token for Host attacker.example with 421 and no token', async () => {
    const res = await raw(
      port,
      requestHead('GET', '/dev/token', { host: 'attacker.example', connection: 'close' }),
    );

    expect(res.status).toBe(421);
    expect(JSON.parse(res.body).error.code).toBe('MISDIRECTED_REQUEST');
    expect(res.body).not.toMatch(/token"\s*:/);
  });

  it('answers only its own address and localhost on its port, on every route, and no Host at all with 421', async () => {
    const statusFor = async (hostHeader: string | undefined, path: string) => {
      const headers: Record<string, string> = { connection: 'close' };
      if (hostHeader !== undefined) headers.host = hostHeader;
      return (await raw(port, requestHead('GET', path, headers))).status;
    };

    const own = [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`];
    const foreign = [
      'attacker.example',
      `attacker.example:${port}`,
      '127.0.0.1',
      `127.0.0.1:${port + 1}`,
      `localhost.attacker.example:${port}`,
      '',
    ];

    for (const name of own) {
      expect(await statusFor(name, '/dev/token')).toBe(200);
    }
    for (const name of foreign) {
      for (const path of ['/dev/token', '/', '/v1/health', `/v1/tenants/${tenant}/certificates`]) {
        expect(await statusFor(name, path)).toBe(421);
      }
    }
    expect((await raw(port, 'GET /v1/health HTTP/1.0\r\n\r\n')).status).toBe(421);
  });

  it('regression #14: keeps every file under DATA_DIR 0600 and every folder 0700, the database WAL and SHM too', async () => {
    const pair = makePair({ now: new Date() });
    const form = new FormData();
    form.append('certificate', new Blob([pair.certPem]), 'c.pem');
    form.append('privateKey', new Blob([pair.keyPem]), 'k.pem');
    const uploaded = await fetch(`${runtime.url}/v1/tenants/${tenant}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(['admin'])}` },
      body: form,
    });
    expect(uploaded.status).toBe(201);

    const modes: Record<string, string> = {};
    const walk = (dir: string) => {
      modes[dir.slice(dataDir.length) || '/'] = (statSync(dir).mode & 0o777).toString(8);
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else modes[path.slice(dataDir.length)] = (statSync(path).mode & 0o777).toString(8);
      }
    };
    walk(dataDir);

    expect(Object.keys(modes)).toEqual(
      expect.arrayContaining([
        '/',
        '/reccert.db',
        '/reccert.db-wal',
        '/reccert.db-shm',
        '/keys',
        '/token.secret',
      ]),
    );
    for (const [path, mode] of Object.entries(modes)) {
      const isDir = statSync(join(dataDir, path)).isDirectory();
      expect({ path, mode }).toEqual({ path, mode: isDir ? '700' : '600' });
    }
  });
});

describe('hostChecker', () => {
  it('takes RECCERT_ALLOWED_HOSTS names on any port, or on the port they name', () => {
    const allowed = hostChecker({ host: '127.0.0.1', port: 8080 }, ['reccert.internal', 'proxy.example:443']);

    expect(allowed('reccert.internal')).toBe(true);
    expect(allowed('reccert.internal:9000')).toBe(true);
    expect(allowed('proxy.example:443')).toBe(true);
    expect(allowed('proxy.example')).toBe(false);
    expect(allowed('other.example:8080')).toBe(false);
    expect(allowed(undefined)).toBe(false);
  });
});

describe('limitIdleConnections', () => {
  it('leaves a connection alone while the server works on a complete request longer than the idle limit', async () => {
    const server = createServer(HTTP_SERVER_OPTIONS, (_req, res) => {
      setTimeout(() => res.end('done'), 1_500);
    });
    limitIdleConnections(server, { bodyIdleTimeoutMs: 500 }, () => ({ headers: {}, body: '' }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;

    try {
      const res = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');

      expect(res.status).toBe(200);
      expect(res.body).toBe('done');
    } finally {
      server.close();
    }
  });
});
