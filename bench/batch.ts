/**
 * The S3 Batch Operations function per object (functions/aws/handlers/recording-batch.ts) on moto:
 * what one object costs in bytes read, requests and time, for rewrap and verify, at a few sizes.
 *
 *   npx tsx bench/run.ts batch
 *   RECCERT_BENCH_BATCH_MIB=1,16 RECCERT_BENCH_BATCH_RUNS=1 npx tsx bench/batch.ts
 *
 * The function runs in this process with the production part sizes (DEFAULT_SIZES) and SDK
 * clients pointed at a moto server started for the run; middleware on the clients counts every
 * request and the bytes each GetObject of the recordings bucket returned. "Read for the copy" is
 * what the function GETs before it sends the new object's first part (the old header and the first
 * part); the rest of the object is read once more by design, for the tag check (DESIGN section 10),
 * so "read in total" is the object's size when nothing is read twice.
 *
 * Interleaved rounds after one warm-up (the first invocation builds the clients), medians. A plain
 * GetObject of the whole object is timed alongside as the yardstick: moto is an emulator, so its
 * times are not S3's; the ratio to reading the object says what the function adds to the read.
 * Every rewrap is checked: the content after the recipients is unchanged and stock openssl opens
 * the result with the new key.
 *
 * Budgets: the copy reads no more than the old header plus the first part; nothing is read twice
 * (bytes read in total at most the object's size).
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  type BatchEvent,
  batchDeps,
  DEFAULT_SIZES,
  recordingBatchFunction,
} from '../functions/aws/handlers/recording-batch';
import { writeDeps } from '../functions/aws/handlers/write-deps';
import { motoClientConfig, provisionAwsResources } from '../scripts/emulators/moto-resources';
import { ensureMotoInstalled, startMoto, stopMoto } from '../scripts/emulators/moto-server';
import { createEncryptStream } from '../shared/recording';
import { parseRecordingHeader } from '../shared/recording/header/auth-enveloped-data';
import { uploadCertificate } from '../shared/usecases/certificate-upload';
import { daysFrom, makePair } from '../test/helpers/pki';
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
const SIZES_MIB = (process.env.RECCERT_BENCH_BATCH_MIB ?? '1,16,256').split(',').map((s) => Number(s.trim()));
const RUNS = Number(process.env.RECCERT_BENCH_BATCH_RUNS ?? 3);
const TENANT = 'bench-batch';
const BUCKET = 'bench-recordings';

/** What one invocation sent, per service and command, and what the recordings' GETs returned. */
interface Tally {
  requests: Record<string, number>;
  getBytes: number;
  /** Recording bytes fetched before the new object's first byte went up. */
  copyBytes: number | undefined;
}

function newTally(): Tally {
  return { requests: {}, getBytes: 0, copyBytes: undefined };
}

type Counted = { middlewareStack: S3Client['middlewareStack'] };

/** Counts the client's requests into `current()` (named `service:Command`). */
function count(client: Counted, service: string, current: () => Tally): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const tally = current();
      const command = (context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as { Bucket?: string };
      const bucket = service === 's3' ? (input.Bucket === BUCKET ? ' recordings' : ' keys') : '';
      const name = `${service}${bucket}: ${command}`;
      tally.requests[name] = (tally.requests[name] ?? 0) + 1;
      if (service === 's3' && input.Bucket === BUCKET) {
        if (command === 'GetObject')
          tally.getBytes += (result.output as { ContentLength?: number }).ContentLength ?? 0;
        if ((command === 'UploadPart' || command === 'PutObject') && tally.copyBytes === undefined)
          tally.copyBytes = tally.getBytes;
      }
      return result;
    },
    { step: 'initialize', name: 'benchCountRequests' },
  );
}

/** A recording of `size` seeded bytes for `certPem`, DER as a recorder with a known length writes it. */
async function recording(size: number, certPem: string): Promise<Buffer> {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const enc = createEncryptStream([certPem], { contentLength: size });
  const chunks: Buffer[] = [];
  enc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve, reject) => enc.on('end', resolve).on('error', reject));
  const zeros = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= MiB) {
    if (!enc.write(keystream.update(zeros.subarray(0, Math.min(left, MiB)))))
      await new Promise((r) => enc.once('drain', r));
  }
  enc.end();
  await done;
  return Buffer.concat(chunks);
}

const afterRecipients = (cms: Buffer) =>
  cms.subarray(parseRecordingHeader(cms, { contentTypeSeen: false }).layout.recipientInfosEnd);

interface Sample {
  ms: number;
  tally: Tally;
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-batch-'));
  ensureMotoInstalled();
  const moto = await startMoto();
  try {
    const resources = await provisionAwsResources(moto.endpoint, { prefix: 'bench-batch' });
    const env = { ...resources.env, LOG_LEVEL: 'silent' };
    const config = motoClientConfig(moto.endpoint);
    const clients = {
      dynamodb: new DynamoDBClient(config),
      s3: new S3Client({ ...config, forcePathStyle: true }),
      kms: new KMSClient(config),
    };
    let tally = newTally();
    count(clients.s3, 's3', () => tally);
    count(clients.kms as unknown as Counted, 'kms', () => tally);
    count(clients.dynamodb as unknown as Counted, 'dynamodb', () => tally);

    const now = new Date();
    const pairs = ['old', 'new'].map((name) => {
      const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const pair = makePair({ key, now, notAfter: daysFrom(now, 365) });
      writeFileSync(path.join(dir, `${name}.key`), pair.keyPem, { mode: 0o600 });
      writeFileSync(path.join(dir, `${name}.pem`), pair.certPem);
      return pair;
    });
    const [oldPair, newPair] = pairs as [(typeof pairs)[0], (typeof pairs)[0]];
    // The certificates go in through the write function's path (its own clients, not counted).
    const events = new EventBridgeClient(config);
    const write = writeDeps({ ...clients, events }, env);
    await uploadCertificate(write, { subject: 'bench' }, TENANT, {
      certificate: oldPair.certPem,
      privateKey: oldPair.keyPem,
    });
    const target = await uploadCertificate(write, { subject: 'bench' }, TENANT, {
      certificate: newPair.certPem,
      privateKey: newPair.keyPem,
    });
    await clients.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await clients.s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );

    const fn = recordingBatchFunction(() => batchDeps(clients, env));
    const invoke = async (key: string, userArguments: Record<string, string>): Promise<Sample> => {
      tally = newTally();
      const event: BatchEvent = {
        invocationSchemaVersion: '2.0',
        invocationId: randomUUID(),
        job: { id: randomUUID(), userArguments: { tenantId: TENANT, ...userArguments } },
        tasks: [{ taskId: randomUUID(), s3Bucket: BUCKET, s3Key: key, s3VersionId: null }],
      };
      const t = process.hrtime.bigint();
      const response = await fn(event);
      const ms = msSince(t);
      const counted = tally;
      // What the bench itself sends between invocations is not the function's.
      tally = newTally();
      const result = response.results[0];
      if (result?.resultCode !== 'Succeeded')
        throw new Error(`${userArguments.operation} of ${key}: ${JSON.stringify(result)}`);
      return { ms, tally: counted };
    };
    const getWhole = async (key: string): Promise<{ ms: number; body: Buffer }> => {
      const t = process.hrtime.bigint();
      const out = await clients.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const body = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
      return { ms: msSince(t), body };
    };

    const perSize: Array<{
      sizeMib: number;
      objectBytes: number;
      headerBytes: number;
      verify: Sample[];
      rewrap: Sample[];
      get: number[];
    }> = [];
    for (const sizeMib of SIZES_MIB) {
      const key = `calls/rec-${sizeMib}.cms`;
      process.stderr.write(`batch: ${sizeMib} MiB: encrypting and uploading ... `);
      const original = await recording(sizeMib * MiB, oldPair.certPem);
      const headerBytes = parseRecordingHeader(original, { contentTypeSeen: false }).layout.recipientInfosEnd;
      await clients.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: original, ContentType: 'application/cms' }),
      );
      process.stderr.write('done\n');
      const row = {
        sizeMib,
        objectBytes: original.length,
        headerBytes,
        verify: [] as Sample[],
        rewrap: [] as Sample[],
        get: [] as number[],
      };
      const rewrapArgs = { operation: 'rewrap', to: target.id, targetPrefix: 'rewrapped/' };
      for (let round = 0; round <= RUNS; round++) {
        const got = await getWhole(key);
        const verify = await invoke(key, { operation: 'verify' });
        const rewrap = await invoke(key, rewrapArgs);
        if (round === 0) {
          // The warm-up also checks the result, so the figures count only if it is right.
          const rewrapped = (await getWhole(`rewrapped/${key}`)).body;
          if (!afterRecipients(rewrapped).equals(afterRecipients(original)))
            throw new Error('the rewrap changed the content');
          const file = path.join(dir, 'rewrapped.cms');
          writeFileSync(file, rewrapped);
          execFileSync('openssl', [
            'cms',
            '-decrypt',
            '-binary',
            '-inform',
            'DER',
            '-in',
            file,
            '-inkey',
            path.join(dir, 'new.key'),
            '-recip',
            path.join(dir, 'new.pem'),
            '-out',
            '/dev/null',
          ]);
          rmSync(file);
          continue;
        }
        row.get.push(got.ms);
        row.verify.push(verify);
        row.rewrap.push(rewrap);
      }
      perSize.push(row);
    }
    for (const c of [...Object.values(clients), events]) c.destroy();

    const budgets: Budget[] = [];
    const bytesRows: string[][] = [];
    const timeRows: string[][] = [];
    const requestRows: string[][] = [];
    const mibOf = (n: number) => fmt(n / MiB, 2);
    for (const r of perSize) {
      const rewrapTally = r.rewrap[0]!.tally;
      const verifyTally = r.verify[0]!.tally;
      const copyBytes = rewrapTally.copyBytes ?? rewrapTally.getBytes;
      const copyLimit = r.headerBytes + DEFAULT_SIZES.firstPartBytes;
      budgets.push(
        budget(
          `${r.sizeMib} MiB rewrap: bytes read for the copy`,
          copyBytes / MiB,
          'max',
          copyLimit / MiB,
          'MiB',
        ),
        budget(
          `${r.sizeMib} MiB rewrap: bytes read in total, x object size`,
          rewrapTally.getBytes / r.objectBytes,
          'max',
          1,
          'x',
        ),
      );
      bytesRows.push([
        `${r.sizeMib} MiB`,
        mibOf(r.objectBytes),
        fmt(r.headerBytes, 0),
        mibOf(copyBytes),
        `${fmt(copyBytes / r.objectBytes, 3)}x`,
        mibOf(rewrapTally.getBytes),
        `${fmt(rewrapTally.getBytes / r.objectBytes)}x`,
        mibOf(verifyTally.getBytes),
      ]);
      const getMs = median(r.get);
      for (const [op, samples] of [
        ['verify', r.verify],
        ['rewrap', r.rewrap],
      ] as const) {
        const ms = median(samples.map((s) => s.ms));
        timeRows.push([
          `${r.sizeMib} MiB`,
          op,
          fmt(ms, 0),
          fmt(r.objectBytes / 1e6 / (ms / 1000), 0),
          fmt(getMs, 0),
          `${fmt(ms / getMs)}x`,
        ]);
        const requests = samples[0]!.tally.requests;
        requestRows.push([
          `${r.sizeMib} MiB`,
          op,
          Object.entries(requests)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, n]) => `${name} ${n}`)
            .join(', '),
          String(Object.values(requests).reduce((a, b) => a + b, 0)),
        ]);
      }
    }

    report(
      {
        name: 'batch',
        machine: machineInfo(),
        budgets,
        tables: [
          {
            title: `Bytes the batch function GETs per object (moto; parts: first ${DEFAULT_SIZES.firstPartBytes / MiB} MiB, copies ${DEFAULT_SIZES.copyPartBytes / MiB} MiB, reads ${DEFAULT_SIZES.readBytes / MiB} MiB)`,
            markdown: markdownTable(
              [
                'object',
                'object MiB',
                'old header bytes',
                'rewrap: read for the copy MiB',
                'x object',
                'rewrap: read in total MiB',
                'x object',
                'verify: read MiB',
              ],
              bytesRows,
            ),
          },
          {
            title: `Time per object, one object per invocation, warm (moto on this machine; median of ${RUNS} interleaved rounds after a warm-up)`,
            markdown: markdownTable(
              ['object', 'operation', 'ms', 'MB/s', 'plain GetObject of the whole object ms', 'x GetObject'],
              timeRows,
            ),
          },
          {
            title: 'Requests per object (one invocation, warm)',
            markdown: markdownTable(['object', 'operation', 'requests', 'total'], requestRows),
          },
        ],
        notes: [
          "Read for the copy: recording bytes GET before the new object's first part went up (the old header and the first part); the later parts are UploadPartCopy ranges that S3 copies without the function. Read in total adds the tag check, which streams the rest of the original once, while the copies run (DESIGN section 10).",
          "moto is an emulator in one Python process on the same 2 cores: its times are not S3's. The x GetObject column says what the function costs over reading the object once from the same server.",
          "Each rewrap was checked: the content after the recipients is byte for byte the original's, and openssl cms -decrypt opens the result with the new key.",
        ],
        data: { runs: RUNS, sizes: DEFAULT_SIZES, perSize },
      },
      started,
    );
  } finally {
    await stopMoto(moto.pid);
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
