/**
 * Crash safety of the local runtime (issue 9): the real server (functions/local/main.ts) runs as a
 * child process on a temp data dir and a free port; uploads run under load; the process is killed
 * with SIGKILL mid-way and restarted on the same data dir, several times. After each restart the
 * store opens, every certificate listed has a working key (a recording encrypted for it decrypts
 * through the API), no key file is left without its certificate after the start-up sweep, and
 * every upload that returned 201 is there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mintLocalToken } from '../../functions/common/local-tokens';
import { SqliteCertificateRepository } from '../../functions/local/sqlite-repository';
import { freePort } from '../../scripts/emulators/moto-server';
import { createEncryptStream } from '../../shared/recording';
import { tempDir } from '../helpers/pki';
import {
  ApiClient,
  freshKeys,
  LeakScanner,
  localConsistency,
  pairFor,
  sleep,
  type UploadPair,
  writeArtifact,
} from './helpers';

const ROOT = resolve(__dirname, '..', '..');
const tenant = 'crash';
const CYCLES = 3;
const WORKERS = 6;

interface Child {
  process: ChildProcess;
  api: ApiClient;
  exited: Promise<number | null>;
}

const output: string[] = [];
const children: ChildProcess[] = [];
const clients: ApiClient[] = [];

/** Starts `functions/local/main.ts` on `dataDir` and a free port; resolves once it listens. */
async function startServer(dataDir: string): Promise<Child> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'functions', 'local', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATA_DIR: dataDir,
        RECCERT_DEV_TENANT: tenant,
        LOG_LEVEL: 'info',
        RECCERT_MASTER_KEY: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let stderr = '';
    const listening = new Promise<boolean>((r) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('listening on')) r(true);
      });
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      void exited.then(() => r(false));
    });
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      listening,
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 30_000);
      }),
    ]);
    clearTimeout(timer);
    output.push(stderr);
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    if (ok) {
      const api = new ApiClient(`http://127.0.0.1:${port}`);
      clients.push(api);
      return { process: child, api, exited };
    }
    child.kill('SIGKILL');
    await exited;
    // Another process may have taken the probed port: try another; anything else is a failure.
    if (attempt >= 2 || !/EADDRINUSE/.test(stderr))
      throw new Error(`the local runtime did not start: ${stderr.slice(-2000)}`);
  }
}

function idOf(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex').slice(0, 32);
}

async function encryptFor(certPem: string, plaintext: Buffer): Promise<Buffer> {
  const stream = createEncryptStream([certPem], { contentLength: plaintext.length });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res, rej) => {
    stream.once('end', res);
    stream.once('error', rej);
  });
  stream.end(plaintext);
  await done;
  return Buffer.concat(chunks);
}

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('the local runtime killed with SIGKILL under upload load', () => {
  it(`restarts on the same data dir with every acknowledged upload whole, ${CYCLES} times`, async () => {
    const dataDir = tempDir('reccert-rel-crash-');
    const keys = freshKeys(6);
    const scanner = new LeakScanner();
    keys.forEach((k, i) => {
      scanner.addKey(`crash-${i}`, k);
    });
    const pemById = new Map<string, string>();
    const acknowledged = new Set<string>();
    const figures = {
      crashCycles: 0,
      uploadsAcknowledged: 0,
      uploadsCutOff: 0,
      uploadsRefused: 0,
      decryptsVerified: 0,
      maxCertificates: 0,
    };

    let server = await startServer(dataDir);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const token = await mintLocalToken(
        Buffer.from(readFileSync(join(dataDir, 'token.secret'), 'utf8').trim(), 'base64'),
        {
          subject: 'crash-admin',
          tenants: [tenant],
          roles: ['admin', 'decrypt'],
        },
      );
      const pairs: UploadPair[] = Array.from({ length: 150 }, (_, i) => pairFor(keys[i % keys.length]!));
      for (const p of pairs) pemById.set(idOf(p.certPem), p.certPem);

      // Load: WORKERS loops upload one pair after another until the process dies.
      let next = 0;
      let firstAck: () => void = () => undefined;
      const acked = new Promise<void>((r) => {
        firstAck = r;
      });
      const worker = async () => {
        while (next < pairs.length) {
          const pair = pairs[next++]!;
          try {
            const r = await server.api.upload(token, tenant, pair);
            if (r.status === 201) {
              acknowledged.add(r.json.id);
              figures.uploadsAcknowledged++;
              firstAck();
            } else figures.uploadsRefused++;
          } catch {
            // The connection died with the process: this upload's outcome is unknown.
            figures.uploadsCutOff++;
            return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: WORKERS }, worker));
      await acked;
      await sleep(150 + Math.floor(Math.random() * 400));
      server.process.kill('SIGKILL');
      await server.exited;
      await load;
      figures.crashCycles++;

      server = await startServer(dataDir);
      const items: { id: string }[] = [];
      let cursor: string | undefined;
      do {
        const page = await server.api.call(
          'GET',
          `/v1/tenants/${tenant}/certificates?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
          {
            token,
          },
        );
        expect(page.status).toBe(200);
        items.push(...page.json.items);
        cursor = page.json.nextCursor;
      } while (cursor);
      const listed = new Set(items.map((c) => c.id));
      figures.maxCertificates = listed.size;
      for (const id of acknowledged) expect({ id, listed: listed.has(id) }).toEqual({ id, listed: true });

      // Every listed certificate is whole: its key file is there and unwraps through custody.
      const repo = new SqliteCertificateRepository(join(dataDir, 'reccert.db'));
      try {
        expect(await localConsistency(dataDir, repo, [tenant])).toMatchObject({
          keysWithoutRecord: [],
          recordsWithoutKey: [],
          records: listed.size,
        });
      } finally {
        repo.close();
      }
      const plaintext = randomBytes(512);
      await Promise.all(
        [...listed].map(async (id) => {
          const pem = pemById.get(id);
          expect(pem).toBeDefined();
          const r = await fetch(`${server.api.baseUrl}/v1/tenants/${tenant}/recordings/decrypt`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cms' },
            body: await encryptFor(pem!, plaintext),
          });
          const clear = Buffer.from(await r.arrayBuffer());
          expect({ id, status: r.status, same: clear.equals(plaintext) }).toEqual({
            id,
            status: 200,
            same: true,
          });
          figures.decryptsVerified++;
        }),
      );
    }
    server.process.kill('SIGTERM');
    await server.exited;

    for (const [n, client] of clients.entries())
      for (const [i, body] of client.bodies.entries()) scanner.scan(`crash:response#${n}.${i}`, body);
    for (const [i, text] of output.entries()) scanner.scan(`crash:child-output#${i}`, text);
    scanner.scanDir(dataDir, 'crash:data');
    writeArtifact('crash', { ...figures, leakScan: scanner.stats() });
    expect(scanner.hits).toEqual([]);
    expect(figures.crashCycles).toBe(CYCLES);
    expect(figures.uploadsAcknowledged).toBeGreaterThan(CYCLES);
  });
});
