/**
 * What verify-before-release costs (DESIGN rule 13, issue 13 #5, issue 18): playback through the
 * local API, which sends no plaintext byte before the whole recording verified, side by side with
 * `openssl cms -decrypt` of the same file in the same run (which streams its output as it goes
 * and verifies the tag only at the end), for 1 MiB, 100 MiB and 1 GiB recordings.
 *
 *   npx tsx bench/run.ts playback
 *   RECCERT_BENCH_PLAYBACK_MIB=1,100 RECCERT_BENCH_PLAYBACK_RUNS=1 npx tsx bench/playback.ts
 *
 * Rows, medians of interleaved rounds (5 per size, 3 from 1 GiB up, unless
 * RECCERT_BENCH_PLAYBACK_RUNS says otherwise):
 *   - API: POST /v1/tenants/{t}/recordings/decrypt on the local runtime (its own process),
 *     the recording streamed from a file, the answer hashed as it arrives; time to first byte
 *     is from the start of the upload to the first plaintext byte;
 *   - openssl cms -decrypt to a pipe (first byte = first byte on its stdout);
 *   - in-process, without HTTP: the decryptor alone (what a streamed release would cost) and
 *     the decryptor through the sealed spool (verify, then release), to isolate the spool.
 *
 * Budget, per size: playback through the API at no less than openssl's MB/s for the same file
 * (the tenant's alternative). Time to first byte is reported, not budgeted: verify-before-release
 * puts the whole decryption before it by design.
 */
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createReadStream, promises as fs, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, encryptFile, PrivateKeyUnwrapper, READ_CHUNK_SIZE } from '../shared/recording';
import { SealedSpool } from '../shared/recording/sealed-spool';
import { startRuntime } from '../test/contract/harness';
import { makePair } from '../test/helpers/pki';
import {
  type Budget,
  budget,
  fmt,
  machineInfo,
  markdownTable,
  median,
  msSince,
  report,
  runMain,
} from './lib';

const MiB = 1024 * 1024;
const SIZES_MIB = (process.env.RECCERT_BENCH_PLAYBACK_MIB ?? '1,100,1024')
  .split(',')
  .map((s) => Number(s.trim()));
/** Rounds per size: fewer for the large ones, where one round is tens of seconds. */
const runsFor = (sizeMib: number) =>
  Number(process.env.RECCERT_BENCH_PLAYBACK_RUNS ?? (sizeMib >= 1024 ? 3 : 5));

interface Sample {
  ttfbMs: number;
  totalMs: number;
}

type Route = 'api' | 'openssl' | 'stream' | 'spool';

const ROUTE_LABELS: Record<Route, string> = {
  api: 'reccert API (local runtime, verify then send)',
  openssl: 'openssl cms -decrypt (streams, checks the tag at the end)',
  stream: 'in-process decryptor alone (no verify-before-release)',
  spool: 'in-process decryptor + sealed spool (verify, then release)',
};

/** A hashing sink that notes when its first byte arrived. */
function sink(started: bigint): { writable: Writable; firstByteMs: () => number; digest: () => string } {
  const hash = createHash('sha256');
  let first = Number.NaN;
  const writable = new Writable({
    highWaterMark: READ_CHUNK_SIZE,
    write(chunk: Buffer, _enc, callback) {
      if (Number.isNaN(first)) first = msSince(started);
      hash.update(chunk);
      callback();
    },
  });
  return { writable, firstByteMs: () => first, digest: () => hash.digest('hex') };
}

async function viaApi(url: string, token: string, cmsPath: string, expected: string): Promise<Sample> {
  const started = process.hrtime.bigint();
  const out = sink(started);
  await new Promise<void>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/cms',
          'content-length': String(statSync(cmsPath).size),
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`decrypt answered ${res.statusCode}`));
          res.resume();
          return;
        }
        pipeline(res, out.writable).then(resolve, reject);
      },
    );
    req.on('error', reject);
    createReadStream(cmsPath, { highWaterMark: READ_CHUNK_SIZE }).pipe(req);
  });
  const totalMs = msSince(started);
  if (out.digest() !== expected) throw new Error('the API returned other plaintext');
  return { ttfbMs: out.firstByteMs(), totalMs };
}

async function viaOpenssl(
  cmsPath: string,
  keyPath: string,
  certPath: string,
  expected: string,
): Promise<Sample> {
  const started = process.hrtime.bigint();
  const out = sink(started);
  const child = spawn(
    'openssl',
    ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', cmsPath, '-inkey', keyPath, '-recip', certPath],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await pipeline(child.stdout, out.writable);
  const code = await exited;
  const totalMs = msSince(started);
  if (code !== 0) throw new Error(`openssl cms -decrypt failed (${code}): ${stderr}`);
  if (out.digest() !== expected) throw new Error('openssl returned other plaintext');
  return { ttfbMs: out.firstByteMs(), totalMs };
}

async function inProcess(
  cmsPath: string,
  unwrapper: PrivateKeyUnwrapper,
  certPem: string,
  withSpool: boolean,
  expected: string,
): Promise<Sample> {
  const started = process.hrtime.bigint();
  const out = sink(started);
  const decryptor = createDecryptStream(unwrapper, { certificates: [certPem] });
  const input = createReadStream(cmsPath, { highWaterMark: READ_CHUNK_SIZE });
  if (withSpool) {
    const spool = new SealedSpool();
    await pipeline(input, decryptor, spool);
    await decryptor.completed;
    await pipeline(spool.reader(), out.writable);
  } else {
    await pipeline(input, decryptor, out.writable);
    await decryptor.completed;
  }
  const totalMs = msSince(started);
  if (out.digest() !== expected) throw new Error('the decryptor returned other plaintext');
  return { ttfbMs: out.firstByteMs(), totalMs };
}

/** A file of `size` patterned bytes (no two MiB alike); returns its SHA-256. */
async function seededFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const chunks = function* () {
    const block = Buffer.alloc(MiB);
    for (let left = size, n = 0; left > 0; left -= MiB, n++) {
      for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761 + n) >>> 0, i);
      const piece = Buffer.from(block.subarray(0, Math.min(left, MiB)));
      hash.update(piece);
      yield piece;
    }
  };
  await pipeline(Readable.from(chunks()), (await fs.open(file, 'w')).createWriteStream());
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-playback-'));
  const h = await startRuntime({ name: 'bench-playback', entry: 'functions/local/main.ts', flow: 'aws' });
  try {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const pair = makePair({ key, now: new Date() });
    const keyPath = path.join(dir, 'tenant.key');
    const certPath = path.join(dir, 'tenant.pem');
    await fs.writeFile(keyPath, pair.keyPem, { mode: 0o600 });
    await fs.writeFile(certPath, pair.certPem);
    const tenant = 'bench';
    const token = await h.token({ tenants: [tenant], roles: ['admin', 'decrypt'] });
    const uploaded = await fetch(`${h.baseUrl}/v1/tenants/${tenant}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ certificate: pair.certPem, privateKey: pair.keyPem }),
    });
    if (uploaded.status !== 201)
      throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
    const url = `${h.baseUrl}/v1/tenants/${tenant}/recordings/decrypt`;
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: pair.keyPem, certificate: pair.certPem });

    const samples: Record<string, Record<Route, Sample[]>> = {};
    for (const sizeMib of SIZES_MIB) {
      const plainPath = path.join(dir, `rec-${sizeMib}.raw`);
      const cmsPath = path.join(dir, `rec-${sizeMib}.cms`);
      const expected = await seededFile(plainPath, sizeMib * MiB);
      await encryptFile(plainPath, cmsPath, [pair.certPem]);
      await fs.rm(plainPath);
      const runs: Record<Route, Sample[]> = { api: [], openssl: [], stream: [], spool: [] };
      // One warm-up of each, then interleaved rounds.
      for (let round = 0; round <= runsFor(sizeMib); round++) {
        const api = await viaApi(url, token, cmsPath, expected);
        const ossl = await viaOpenssl(cmsPath, keyPath, certPath, expected);
        const stream = await inProcess(cmsPath, unwrapper, pair.certPem, false, expected);
        const spool = await inProcess(cmsPath, unwrapper, pair.certPem, true, expected);
        if (round === 0) continue;
        runs.api.push(api);
        runs.openssl.push(ossl);
        runs.stream.push(stream);
        runs.spool.push(spool);
      }
      samples[`${sizeMib}`] = runs;
    }

    const rows: string[][] = [];
    const budgets: Budget[] = [];
    const figures: Record<string, Record<Route, { ttfbMs: number; totalMs: number; mbPerS: number }>> = {};
    for (const sizeMib of SIZES_MIB) {
      const runs = samples[`${sizeMib}`]!;
      const bytes = sizeMib * MiB;
      const byRoute = {} as Record<Route, { ttfbMs: number; totalMs: number; mbPerS: number }>;
      for (const route of Object.keys(ROUTE_LABELS) as Route[]) {
        const ttfbMs = median(runs[route].map((s) => s.ttfbMs));
        const totalMs = median(runs[route].map((s) => s.totalMs));
        byRoute[route] = { ttfbMs, totalMs, mbPerS: bytes / 1e6 / (totalMs / 1000) };
      }
      figures[`${sizeMib} MiB`] = byRoute;
      budgets.push(
        budget(
          `${sizeMib} MiB playback through the API, MB/s x openssl cms -decrypt`,
          byRoute.api.mbPerS / byRoute.openssl.mbPerS,
          'min',
          1,
          'x',
        ),
      );
      for (const route of Object.keys(ROUTE_LABELS) as Route[]) {
        const f = byRoute[route];
        rows.push([
          `${sizeMib} MiB`,
          ROUTE_LABELS[route],
          fmt(f.ttfbMs, 1),
          `${fmt(f.ttfbMs / byRoute.openssl.ttfbMs)}x`,
          fmt(f.totalMs, 1),
          fmt(f.mbPerS, 0),
          `${fmt(f.mbPerS / byRoute.openssl.mbPerS)}x`,
        ]);
      }
    }
    const big = figures[`${SIZES_MIB[SIZES_MIB.length - 1]} MiB`]!;
    report(
      {
        name: 'playback',
        machine: machineInfo(),
        budgets,
        tables: [
          {
            title: `Playback, verify-before-release against openssl cms -decrypt (median of ${SIZES_MIB.map((m) => `${runsFor(m)} (${m} MiB)`).join(', ')} interleaved rounds after one warm-up)`,
            markdown: markdownTable(
              [
                'recording',
                'route',
                'first byte ms',
                'first byte x openssl',
                'total ms',
                'MB/s',
                'MB/s x openssl',
              ],
              rows,
            ),
          },
        ],
        notes: [
          'First byte: from the start of the request (or of the openssl process) to the first plaintext byte the client receives. Verify-before-release puts the whole decryption (and the spool) before it, so through the API it grows with the recording. openssl cms -decrypt reads a DER input whole before it writes anything, so its first byte is late too, although it then releases plaintext before the tag is checked.',
          `Through the API the plaintext of a recording over 4 MiB waits in a temporary file sealed under a one-time AES-256-GCM key (bench row "sealed spool": ${fmt(big.spool.totalMs / big.stream.totalMs)}x the decryptor alone in-process for the largest size).`,
          'Client and runtime share the machine: the API rows include the HTTP client, the upload and the server in two processes on the same cores.',
        ],
        data: { runs: SIZES_MIB.map(runsFor), sizesMib: SIZES_MIB, figures, samples },
      },
      started,
    );
  } finally {
    await h.stop();
    rmSync(h.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
