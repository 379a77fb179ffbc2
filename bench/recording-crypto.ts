/**
 * Recording crypto, the fifth benchmark of `bench/run.ts` (name: recording):
 *   1. the CMS table of bench/recording.ts (reccert against `openssl cms`, encrypt and decrypt,
 *      MB/s and peak RSS), run as its own process once per size of RECCERT_BENCH_CMS_MIB;
 *   2. memory-to-memory AES-256-GCM in node against `openssl speed -evp aes-256-gcm` (16 KiB
 *      buffers, its largest standard size): node's cipher alone and the shipped CmsEncryptStream
 *      at several `cipher.update` sizes, interleaved;
 *   3. file-to-file: encryptFile / decryptFile of shared/recording at several chunk sizes and the
 *      stream pipeline they replaced, against a plain streamed copy of the same file (read and
 *      write through user space, same 1 MiB chunks), interleaved.
 *
 *   npx tsx bench/recording-crypto.ts
 *   RECCERT_BENCH_MIB=64 RECCERT_BENCH_CMS_MIB=64 RECCERT_BENCH_ROUNDS=3 npx tsx bench/recording-crypto.ts
 *
 * Env: RECCERT_BENCH_MIB file-to-file size (256), RECCERT_BENCH_CMS_MIB sizes of part 1
 * (256,1024), RECCERT_BENCH_ROUNDS (5), RECCERT_BENCH_UPDATE_KIB update sizes of part 2
 * (16,64,256,1024), RECCERT_BENCH_CHUNK_KIB chunk sizes of part 3 (256,1024,2048). An empty list
 * skips those rows (RECCERT_BENCH_CMS_MIB= skips part 1).
 *
 * Budgets: encrypt at least 1.2x `openssl cms -encrypt` at each CMS size; decrypt peak RSS at most
 * 64 MiB over a 1 KiB recording's; the shipped CmsEncryptStream at least 0.5x openssl speed (16 KiB);
 * file-to-file encrypt and decrypt at least 0.9x the copy.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createDecryptStream,
  createEncryptStream,
  decryptFile,
  encryptFile,
  PrivateKeyUnwrapper,
  READ_CHUNK_SIZE,
  UPDATE_SIZE,
} from '../shared/recording';
import { makePair } from '../test/helpers/pki';
import {
  type Budget,
  budget,
  fmt,
  machineInfo,
  markdownTable,
  median,
  msSince,
  RESULTS_DIR,
  ROOT,
  report,
  runMain,
  runProcess,
} from './lib';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.RECCERT_BENCH_MIB ?? 256);
const list = (name: string, fallback: string): number[] =>
  (process.env[name] ?? fallback)
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => Number(v.trim()));
const CMS_MIB = list('RECCERT_BENCH_CMS_MIB', '256,1024');
const UPDATE_KIB = list('RECCERT_BENCH_UPDATE_KIB', '16,64,256,1024');
const CHUNK_KIB = list('RECCERT_BENCH_CHUNK_KIB', '256,1024,2048');
/** How far the decryptor's peak RSS may rise over a 1 KiB recording's: bounded, not the file. */
const DECRYPT_RSS_BOUND_MIB = 64;
const ROUNDS = Number(process.env.RECCERT_BENCH_ROUNDS ?? 5);
const SPEED_BYTES = 16384;

/** openssl speed's AES-256-GCM throughput in bytes/s for SPEED_BYTES buffers (machine-readable output). */
function opensslSpeed(seconds: number): number {
  const out = execFileSync(
    'openssl',
    ['speed', '-mr', '-seconds', String(seconds), '-bytes', String(SPEED_BYTES), '-evp', 'aes-256-gcm'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  ).toString();
  const line = out.split('\n').find((l) => /^\+F:\d+:aes-256-gcm:/i.test(l));
  const value = Number(line?.split(':')[3]);
  if (!Number.isFinite(value)) throw new Error(`could not read openssl speed output: ${out}`);
  return value;
}

/** Node AES-256-GCM over `total` bytes: one cipher streamed in `chunk`-sized updates. */
function nodeStreaming(data: Buffer, chunk: number, total: number): number {
  const key = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
  const start = process.hrtime.bigint();
  for (let done = 0; done < total; done += chunk) cipher.update(data.subarray(0, chunk));
  cipher.final();
  cipher.getAuthTag();
  return total / (msSince(start) / 1000);
}

/**
 * The shipped encryptor, memory to memory: `total` bytes written in READ_CHUNK_SIZE chunks (as
 * encryptFile reads them) through CmsEncryptStream into a sink that drops them.
 */
async function encryptorInMemory(
  certificatePem: string,
  data: Buffer,
  total: number,
  updateSize: number = UPDATE_SIZE,
): Promise<number> {
  const chunk = data.subarray(0, READ_CHUNK_SIZE);
  const count = Math.ceil(total / READ_CHUNK_SIZE);
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) yield chunk;
    })(),
    { objectMode: false },
  );
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const start = process.hrtime.bigint();
  await pipeline(source, createEncryptStream([certificatePem], { updateSize }), sink);
  return (count * READ_CHUNK_SIZE) / (msSince(start) / 1000);
}

/** Node AES-256-GCM as openssl speed does it: one message per buffer (new IV, tag each). */
function nodePerMessage(data: Buffer, seconds: number): number {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const buffer = data.subarray(0, SPEED_BYTES);
  let bytes = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 256; i++) {
      iv.writeUInt32BE(i, 8);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.update(buffer);
      cipher.final();
      cipher.getAuthTag();
      bytes += SPEED_BYTES;
    }
  }
  return bytes / (msSince(start) / 1000);
}

/** The file paths as they were before: the streams themselves, piped, one 1 MiB update per chunk. */
async function streamedEncrypt(from: string, to: string, certificatePem: string): Promise<void> {
  const size = (await stat(from)).size;
  await pipeline(
    createReadStream(from, { highWaterMark: READ_CHUNK_SIZE }),
    createEncryptStream([certificatePem], { contentLength: size, updateSize: READ_CHUNK_SIZE }),
    createWriteStream(to, { highWaterMark: READ_CHUNK_SIZE }),
  );
}

async function streamedDecrypt(from: string, to: string, unwrapper: PrivateKeyUnwrapper): Promise<void> {
  const decryptor = createDecryptStream(unwrapper);
  await pipeline(
    createReadStream(from, { highWaterMark: READ_CHUNK_SIZE }),
    decryptor,
    createWriteStream(to, { highWaterMark: READ_CHUNK_SIZE }),
  );
  await decryptor.completed;
}

async function plainCopy(from: string, to: string): Promise<void> {
  await pipeline(
    createReadStream(from, { highWaterMark: READ_CHUNK_SIZE }),
    createWriteStream(to, { highWaterMark: READ_CHUNK_SIZE }),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return msSince(start) / 1000;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface CmsTable {
  rows: Array<{ operation: string; tool: string; mbPerSecond: number; peakRssMiB?: number }>;
  ratios: { encrypt: number; decrypt: number };
  decryptBaselineRssMiB?: number;
  sizeBytes: number;
  runs: number;
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();

  // 1. The recording-encryption issue's table, by its own script, in its own process, per size.
  const cmsRuns: Array<{ sizeMiB: number; table: CmsTable | undefined; output: string }> = [];
  const cmsFile = path.join(RESULTS_DIR, 'recording.json');
  for (const sizeMiB of CMS_MIB) {
    process.stderr.write(`recording: bench/recording.ts with ${sizeMiB} MiB ...\n`);
    rmSync(cmsFile, { force: true });
    const run = await runProcess(
      process.execPath,
      ['--require', 'tsx/cjs', path.join(ROOT, 'bench', 'recording.ts')],
      { env: { ...process.env, RECCERT_BENCH_MIB: String(sizeMiB) } },
    );
    const table = existsSync(cmsFile) ? (JSON.parse(readFileSync(cmsFile, 'utf8')) as CmsTable) : undefined;
    cmsRuns.push({ sizeMiB, table, output: run.stdout });
  }

  // 2. Memory to memory, interleaved with openssl speed.
  const data = randomBytes(MiB);
  const aes = {
    opensslSpeed: [] as number[],
    nodePerMessage: [] as number[],
    nodeStream: Object.fromEntries(UPDATE_KIB.map((k) => [k, [] as number[]])),
    encryptor: Object.fromEntries(UPDATE_KIB.map((k) => [k, [] as number[]])),
    shipped: [] as number[],
  };
  const recipient = makePair({ now: new Date() }).certPem;
  for (let r = 0; r < ROUNDS; r++) {
    aes.opensslSpeed.push(opensslSpeed(1));
    aes.nodePerMessage.push(nodePerMessage(data, 1));
    for (const k of UPDATE_KIB) aes.nodeStream[k]!.push(nodeStreaming(data, k * 1024, 1024 * MiB));
    for (const k of UPDATE_KIB)
      aes.encryptor[k]!.push(await encryptorInMemory(recipient, data, 1024 * MiB, k * 1024));
    aes.shipped.push(await encryptorInMemory(recipient, data, 1024 * MiB));
  }
  const ossl = median(aes.opensslSpeed);
  const aesRows: Array<[string, number]> = [
    [`openssl speed -evp aes-256-gcm (${SPEED_BYTES} B buffers)`, ossl],
    [`node, one message per ${SPEED_BYTES} B buffer (as openssl speed)`, median(aes.nodePerMessage)],
    ...UPDATE_KIB.map((k): [string, number] => [
      `node cipher alone, ${k} KiB updates`,
      median(aes.nodeStream[k]!),
    ]),
    ...UPDATE_KIB.map((k): [string, number] => [
      `reccert CmsEncryptStream, 1 MiB writes, ${k} KiB updates`,
      median(aes.encryptor[k]!),
    ]),
    [`reccert CmsEncryptStream as shipped (${UPDATE_SIZE / 1024} KiB updates)`, median(aes.shipped)],
  ];

  // 3. File to file against a plain copy.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-rec-'));
  const files = {
    copy: [] as number[],
    encrypt: Object.fromEntries(CHUNK_KIB.map((k) => [k, [] as number[]])),
    decrypt: Object.fromEntries(CHUNK_KIB.map((k) => [k, [] as number[]])),
    encryptUpdate: Object.fromEntries(UPDATE_KIB.map((k) => [k, [] as number[]])),
    shippedEncrypt: [] as number[],
    shippedDecrypt: [] as number[],
    streamedEncrypt: [] as number[],
    streamedDecrypt: [] as number[],
    cp: [] as number[],
  };
  try {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const pair = makePair({ key, now: new Date() });
    const plain = path.join(dir, 'rec.wav');
    const keystream = createCipheriv('aes-128-ctr', randomBytes(16), Buffer.alloc(16));
    const out = createWriteStream(plain);
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < SIZE_MIB; i++) {
      if (!out.write(keystream.update(zeros))) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));
    const digest = await sha256(plain);
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: pair.keyPem, certificate: pair.certPem });
    const copyOut = path.join(dir, 'copy.wav');
    const cmsOut = path.join(dir, 'rec.cms');
    const backOut = path.join(dir, 'back.wav');
    const cpOut = path.join(dir, 'cp.wav');
    const fresh = (f: string) => rmSync(f, { force: true });
    const check = async (what: string) => {
      if ((await sha256(backOut)) !== digest)
        throw new Error(`${what}: decrypted file differs from the input`);
    };
    for (let r = 0; r < ROUNDS; r++) {
      fresh(copyOut);
      files.copy.push(await timed(() => plainCopy(plain, copyOut)));
      fresh(cmsOut);
      files.shippedEncrypt.push(await timed(() => encryptFile(plain, cmsOut, [pair.certPem])));
      fresh(backOut);
      files.shippedDecrypt.push(await timed(() => decryptFile(cmsOut, backOut, unwrapper)));
      for (const k of CHUNK_KIB) {
        const chunkSize = k * 1024;
        fresh(cmsOut);
        files.encrypt[k]!.push(await timed(() => encryptFile(plain, cmsOut, [pair.certPem], { chunkSize })));
        fresh(backOut);
        files.decrypt[k]!.push(await timed(() => decryptFile(cmsOut, backOut, unwrapper, { chunkSize })));
      }
      for (const k of UPDATE_KIB) {
        fresh(cmsOut);
        files.encryptUpdate[k]!.push(
          await timed(() => encryptFile(plain, cmsOut, [pair.certPem], { updateSize: k * 1024 })),
        );
      }
      fresh(cmsOut);
      files.streamedEncrypt.push(await timed(() => streamedEncrypt(plain, cmsOut, pair.certPem)));
      fresh(backOut);
      files.streamedDecrypt.push(await timed(() => streamedDecrypt(cmsOut, backOut, unwrapper)));
      fresh(cpOut);
      files.cp.push(await timed(() => runProcess('cp', [plain, cpOut])));
    }
    await check('the stream pipeline');
    fresh(backOut);
    await decryptFile(cmsOut, backOut, unwrapper);
    await check('decryptFile');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const size = SIZE_MIB * MiB;
  const mbps = (seconds: number[]) => size / 1e6 / median(seconds);
  const copyMbps = mbps(files.copy);
  const fileRows: Array<[string, number]> = [
    ['plain streamed copy (read + write, 1 MiB chunks)', copyMbps],
    [
      `reccert encryptFile as shipped (${READ_CHUNK_SIZE / 1024} KiB chunks, ${UPDATE_SIZE / 1024} KiB updates)`,
      mbps(files.shippedEncrypt),
    ],
    [`reccert decryptFile as shipped (${READ_CHUNK_SIZE / 1024} KiB chunks)`, mbps(files.shippedDecrypt)],
    ...CHUNK_KIB.flatMap(
      (k): Array<[string, number]> => [
        [`encryptFile, ${k} KiB chunks`, mbps(files.encrypt[k]!)],
        [`decryptFile, ${k} KiB chunks`, mbps(files.decrypt[k]!)],
      ],
    ),
    [
      'before: encrypt stream pipeline (read stream, CmsEncryptStream 1 MiB updates, write stream)',
      mbps(files.streamedEncrypt),
    ],
    [
      'before: decrypt stream pipeline (read stream, CmsDecryptStream, write stream)',
      mbps(files.streamedDecrypt),
    ],
    ['`cp` (kernel copy, for reference)', mbps(files.cp)],
  ];

  const budgets: Budget[] = [];
  for (const { sizeMiB, table } of cmsRuns) {
    budgets.push(
      budget(
        `encrypt / openssl cms -encrypt, ${sizeMiB} MiB`,
        table?.ratios.encrypt ?? Number.NaN,
        'min',
        1.2,
        'x',
      ),
    );
    const decryptRss = table?.rows.find((r) => r.operation === 'decrypt' && r.tool === 'reccert')?.peakRssMiB;
    const baseline = table?.decryptBaselineRssMiB;
    budgets.push(
      budget(
        `decrypt peak RSS over a 1 KiB recording's, ${sizeMiB} MiB`,
        decryptRss !== undefined && baseline !== undefined ? decryptRss - baseline : Number.NaN,
        'max',
        DECRYPT_RSS_BOUND_MIB,
        'MiB',
      ),
    );
  }
  budgets.push(
    budget(
      `reccert CmsEncryptStream as shipped / openssl speed (${SPEED_BYTES} B)`,
      median(aes.shipped) / ossl,
      'min',
      0.5,
      'x',
    ),
    budget(
      `encryptFile / plain copy, ${SIZE_MIB} MiB`,
      mbps(files.shippedEncrypt) / copyMbps,
      'min',
      0.9,
      'x',
    ),
    budget(
      `decryptFile / plain copy, ${SIZE_MIB} MiB`,
      mbps(files.shippedDecrypt) / copyMbps,
      'min',
      0.9,
      'x',
    ),
  );
  const tables = [];
  for (const { table: cms } of cmsRuns) {
    if (!cms) continue;
    tables.push({
      title: `CMS recordings, reccert against openssl cms (bench/recording.ts, ${cms.sizeBytes / MiB} MiB, median of ${cms.runs})`,
      markdown: markdownTable(
        ['operation', 'tool', 'MB/s', 'peak RSS MiB'],
        [
          ...cms.rows.map((r) => [r.operation, r.tool, fmt(r.mbPerSecond, 0), fmt(r.peakRssMiB, 0)]),
          ['decrypt a 1 KiB recording (RSS baseline)', 'reccert', '', fmt(cms.decryptBaselineRssMiB, 0)],
        ],
      ),
    });
  }
  tables.push({
    title: `Memory-to-memory AES-256-GCM, 1 GiB per route (median of ${ROUNDS} interleaved rounds)`,
    markdown: markdownTable(
      ['route', 'MB/s', 'x openssl speed'],
      aesRows.map(([name, v]) => [name, fmt(v / 1e6, 0), `${fmt(v / ossl)}x`]),
    ),
  });
  tables.push({
    title: `File to file, ${SIZE_MIB} MiB (page-cached; median of ${ROUNDS} interleaved rounds)`,
    markdown: markdownTable(
      ['route', 'MB/s', 'x plain copy'],
      fileRows.map(([name, v]) => [name, fmt(v, 0), `${fmt(v / copyMbps)}x`]),
    ),
  });
  report(
    {
      name: 'recording',
      machine: machineInfo(),
      budgets,
      tables,
      notes: [
        ...cmsRuns.map(({ sizeMiB, table: cms }) =>
          cms
            ? `CMS ratios at ${sizeMiB} MiB (reccert / openssl cms): encrypt ${fmt(cms.ratios.encrypt)}x, decrypt ${fmt(cms.ratios.decrypt)}x (targets 1.2x and 1.5x).`
            : `bench/recording.ts wrote no results at ${sizeMiB} MiB.`,
        ),
        'The plain copy is the budget reference: it moves the same bytes through user space in the same 1 MiB chunks. `cp` copies inside the kernel and is shown for reference only.',
      ],
      data: {
        sizeMiB: SIZE_MIB,
        rounds: ROUNDS,
        cms: cmsRuns.map((r) => ({ sizeMiB: r.sizeMiB, table: r.table })),
        cmsOutput: cmsRuns.map((r) => r.output),
        aes,
        files,
      },
    },
    started,
  );
}

runMain(main);
