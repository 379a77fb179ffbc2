import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  type BatchDeps,
  type BatchEvent,
  batchDeps,
  recordingBatchFunction,
} from '../../functions/aws/handlers/recording-batch';
import { writeDeps } from '../../functions/aws/handlers/write-deps';
import { provisionAwsResources } from '../../scripts/emulators/moto-resources';
import { createEncryptStream } from '../../shared/recording';
import { parseRecordingHeader } from '../../shared/recording/header/auth-enveloped-data';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { daysFrom, makePair, rsaKey, type TestPair, tempDir } from '../helpers/pki';
import { uniqueTenantId } from '../ports/fixtures';
import { opensslDecrypt } from '../recording/helpers';
import { motoClients } from './clients';
import { failingAt } from './faults';
import { motoEndpoint } from './moto';

const MiB = 1024 * 1024;
/** The smallest parts S3 allows, so a 17 MiB recording spans several. */
const SIZES = { firstPartBytes: 5 * MiB, copyPartBytes: 5 * MiB, readBytes: 2 * MiB };

const clients = motoClients();
const tenant = uniqueTenantId('batch');
const bucket = `recordings-${crypto.randomBytes(4).toString('hex')}`;
const dir = tempDir('reccert-batch-');
const pairs: Record<'old' | 'new' | 'foreign', TestPair & { id?: string }> = {
  old: pair('old'),
  new: pair('new'),
  foreign: pair('foreign'),
};
let env: NodeJS.ProcessEnv;

function pair(name: string): TestPair {
  const now = new Date();
  const p = makePair({ key: rsaKey(`batch-${name}`), now, notAfter: daysFrom(now, 365) });
  writeFileSync(join(dir, `${name}.key`), p.keyPem);
  writeFileSync(join(dir, `${name}.pem`), p.certPem);
  return p;
}

beforeAll(async () => {
  const resources = await provisionAwsResources(motoEndpoint(), {
    prefix: `batch-${crypto.randomBytes(4).toString('hex')}`,
  });
  env = { ...resources.env, LOG_LEVEL: 'silent' };
  const write = writeDeps({ ...clients }, env);
  for (const name of ['old', 'new'] as const) {
    const view = await uploadCertificate(write, { subject: 'batch-test' }, tenant, {
      certificate: pairs[name].certPem,
      privateKey: pairs[name].keyPem,
    });
    pairs[name].id = view.id;
  }
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await clients.s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
});

/** A recording of `plain` for `to` (DER with a known length, else BER as a stream writes it). */
async function encrypt(plain: Buffer, to: TestPair[], der = true): Promise<Buffer> {
  const enc = createEncryptStream(
    to.map((p) => p.certPem),
    der ? { contentLength: plain.length } : {},
  );
  const chunks: Buffer[] = [];
  enc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve, reject) => enc.on('end', resolve).on('error', reject));
  enc.end(plain);
  await done;
  return Buffer.concat(chunks);
}

async function put(key: string, body: Buffer): Promise<string | undefined> {
  const out = await clients.s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: 'application/cms',
      Metadata: { call: key },
    }),
  );
  return out.VersionId;
}

async function get(key: string, versionId?: string): Promise<Buffer> {
  const out = await clients.s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
  );
  return Buffer.from(await out.Body!.transformToByteArray());
}

/**
 * An S3 client that logs every command it sends to the recordings bucket and the bytes each
 * GetObject returned (the key store's reads of sealed keys go to its own bucket, left out).
 */
function countingS3(): { s3: S3Client; log: { command: string; range?: string; bytes: number }[] } {
  const s3 = motoClients().s3;
  const log: { command: string; range?: string; bytes: number }[] = [];
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { Bucket?: string; Range?: string };
      const output = result.output as { ContentLength?: number };
      if (input.Bucket !== bucket) return result;
      log.push({
        command: context.commandName ?? '',
        ...(input.Range ? { range: input.Range } : {}),
        bytes: context.commandName === 'GetObjectCommand' ? (output.ContentLength ?? 0) : 0,
      });
      return result;
    },
    { step: 'initialize', name: 'reccertCountBytes' },
  );
  return { s3, log };
}

function batch(s3: S3Client = clients.s3, kms = clients.kms) {
  return recordingBatchFunction(
    (): BatchDeps => ({ ...batchDeps({ ...clients, s3, kms }, env), sizes: SIZES }),
  );
}

function event(key: string, userArguments: Record<string, string>, versionId?: string): BatchEvent {
  return {
    invocationSchemaVersion: '2.0',
    invocationId: crypto.randomUUID(),
    job: { id: crypto.randomUUID(), userArguments },
    tasks: [
      {
        taskId: crypto.randomUUID(),
        s3Bucket: bucket,
        s3Key: encodeURIComponent(key).replace(/%2F/g, '/'),
        s3VersionId: versionId ?? null,
      },
    ],
  };
}

async function run(
  key: string,
  userArguments: Record<string, string>,
  s3?: S3Client,
  kms?: typeof clients.kms,
) {
  const response = await batch(s3, kms)(event(key, { tenantId: tenant, ...userArguments }));
  expect(response.results).toHaveLength(1);
  return response.results[0]!;
}

/** Whether stock openssl opens `cms` with `name`'s key and gives `plain`. */
async function opensslOpens(cms: Buffer, name: string, plain: Buffer): Promise<boolean> {
  const file = join(dir, `${crypto.randomUUID()}.cms`);
  writeFileSync(file, cms);
  const key = { keyPath: join(dir, `${name}.key`), certPath: join(dir, `${name}.pem`) };
  try {
    await opensslDecrypt(file, `${file}.out`, key);
  } catch {
    return false;
  }
  return readFileSync(`${file}.out`).equals(plain);
}

/** Everything after the recipients: the encrypted content and the tag. */
function afterRecipients(cms: Buffer): Buffer {
  return cms.subarray(parseRecordingHeader(cms, { contentTypeSeen: false }).layout.recipientInfosEnd);
}

describe('recording-batch function (S3 Batch Operations)', () => {
  it('rewraps a 17 MiB recording in place: a new version the new key opens, the old version kept, content and tag unchanged', async () => {
    const plain = crypto.randomBytes(17 * MiB + 123);
    const original = await encrypt(plain, [pairs.old], false);
    const oldVersion = await put('calls/big call.cms', original);
    const { s3, log } = countingS3();

    const result = await run('calls/big call.cms', { operation: 'rewrap', to: pairs.new.id! }, s3);

    expect(result).toMatchObject({ resultCode: 'Succeeded', resultString: 'ok' });
    const versions = await clients.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'calls/big' }),
    );
    expect(versions.Versions).toHaveLength(2);
    expect((await get('calls/big call.cms', oldVersion)).equals(original)).toBe(true);
    const rewrapped = await get('calls/big call.cms');
    expect(afterRecipients(rewrapped).equals(afterRecipients(original))).toBe(true);
    expect(await opensslOpens(rewrapped, 'new', plain)).toBe(true);
    expect(await opensslOpens(rewrapped, 'old', plain)).toBe(false);
    const head = await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'calls/big call.cms' }));
    expect(head.ContentType).toBe('application/cms');
    expect(head.Metadata).toEqual({ call: 'calls/big call.cms' });
    // Parts: the header with the first 5 MiB, then server-side copies of the rest.
    expect(log.filter((e) => e.command === 'UploadPartCommand')).toHaveLength(1);
    expect(log.filter((e) => e.command === 'UploadPartCopyCommand')).toHaveLength(3);
    // What the copy read: the GETs before part 1 went up are the old header and the first part.
    const copyFrom = parseRecordingHeader(original, { contentTypeSeen: false }).layout.recipientInfosEnd;
    const firstUpload = log.findIndex((e) => e.command === 'UploadPartCommand');
    const copyBytes = log.slice(0, firstUpload).reduce((n, e) => n + e.bytes, 0);
    expect(copyBytes).toBe(copyFrom + SIZES.firstPartBytes);
    // Verification reads the rest once: no byte is read twice.
    expect(log.reduce((n, e) => n + e.bytes, 0)).toBe(original.length);
    process.stdout.write(
      `recording-batch bytes read per rewrapped object: copy ${copyBytes} (header ${copyFrom} + first part ${SIZES.firstPartBytes}) of ${original.length}; verification ${original.length - copyBytes}\n`,
    );
  }, 120_000);

  it('rewraps a DER recording in place on an unversioned bucket, adding a recipient across several parts', async () => {
    const plainBucket = `${bucket}-plain`;
    await clients.s3.send(new CreateBucketCommand({ Bucket: plainBucket }));
    const plain = crypto.randomBytes(11 * MiB + 5);
    const original = await encrypt(plain, [pairs.old]);
    await clients.s3.send(new PutObjectCommand({ Bucket: plainBucket, Key: 'der.cms', Body: original }));
    const task = event('der.cms', {
      operation: 'rewrap',
      tenantId: tenant,
      to: pairs.new.id!,
      keepRecipients: 'true',
    });
    task.tasks[0]!.s3Bucket = plainBucket;

    const response = await batch()(task);

    expect(response.results[0]).toMatchObject({ resultCode: 'Succeeded', resultString: 'ok' });
    const out = await clients.s3.send(new GetObjectCommand({ Bucket: plainBucket, Key: 'der.cms' }));
    const rewrapped = Buffer.from(await out.Body!.transformToByteArray());
    expect(afterRecipients(rewrapped).equals(afterRecipients(original))).toBe(true);
    expect(await opensslOpens(rewrapped, 'new', plain)).toBe(true);
    expect(await opensslOpens(rewrapped, 'old', plain)).toBe(true);
  }, 60_000);

  it('rewraps a small recording under a target prefix keeping its recipients, and leaves the original alone', async () => {
    const plain = crypto.randomBytes(1000);
    const original = await encrypt(plain, [pairs.old]);
    await put('small.cms', original);

    const result = await run('small.cms', {
      operation: 'rewrap',
      to: pairs.new.id!,
      keepRecipients: 'true',
      targetPrefix: 'rewrapped/',
    });

    expect(result).toMatchObject({ resultCode: 'Succeeded', resultString: 'ok' });
    expect((await get('small.cms')).equals(original)).toBe(true);
    const rewrapped = await get('rewrapped/small.cms');
    expect(afterRecipients(rewrapped).equals(afterRecipients(original))).toBe(true);
    expect(await opensslOpens(rewrapped, 'new', plain)).toBe(true);
    expect(await opensslOpens(rewrapped, 'old', plain)).toBe(true);
  });

  it('rewraps a recording of no content', async () => {
    const original = await encrypt(Buffer.alloc(0), [pairs.old]);
    await put('empty-call.cms', original);

    const result = await run('empty-call.cms', { operation: 'rewrap', to: pairs.new.id! });

    expect(result.resultCode).toBe('Succeeded');
    expect(await opensslOpens(await get('empty-call.cms'), 'new', Buffer.alloc(0))).toBe(true);
  });

  it('refuses a 0-byte object as NOT_CMS, permanently', async () => {
    await put('zero.cms', Buffer.alloc(0));

    const result = await run('zero.cms', { operation: 'rewrap', to: pairs.new.id! });

    expect(result.resultCode).toBe('PermanentFailure');
    expect(result.resultString).toMatch(/^NOT_CMS: /);
  });

  it('refuses a tampered multipart rewrap with INTEGRITY_CHECK_FAILED and writes nothing', async () => {
    const original = await encrypt(crypto.randomBytes(12 * MiB), [pairs.old]);
    original[original.length - 40] = (original[original.length - 40] ?? 0) ^ 1;
    await put('tampered-big.cms', original);

    const result = await run('tampered-big.cms', { operation: 'rewrap', to: pairs.new.id! });

    expect(result.resultCode).toBe('PermanentFailure');
    expect(result.resultString).toMatch(/^INTEGRITY_CHECK_FAILED: /);
    const versions = await clients.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'tampered-big.cms' }),
    );
    expect(versions.Versions).toHaveLength(1);
    const uploads = await clients.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(uploads.Uploads ?? []).toHaveLength(0);
  }, 60_000);

  it('verifies good, tampered, foreign and missing objects with the outcome of each', async () => {
    const plain = crypto.randomBytes(3 * MiB);
    const good = await encrypt(plain, [pairs.old]);
    const tampered = Buffer.from(good);
    tampered[tampered.length - 100] = (tampered[tampered.length - 100] ?? 0) ^ 1;
    await put('verify/good.cms', good);
    await put('verify/tampered.cms', tampered);
    await put('verify/foreign.cms', await encrypt(plain, [pairs.foreign]));

    const outcomes = await Promise.all(
      ['good', 'tampered', 'foreign', 'missing'].map((name) =>
        run(`verify/${name}.cms`, { operation: 'verify' }),
      ),
    );

    expect(outcomes.map((o) => [o.resultCode, o.resultString.split(':')[0]])).toEqual([
      ['Succeeded', 'ok'],
      ['PermanentFailure', 'INTEGRITY_CHECK_FAILED'],
      ['PermanentFailure', 'NO_MATCHING_KEY'],
      ['PermanentFailure', 'NOT_FOUND'],
    ]);
  });

  it('answers bad job arguments and unknown targets as permanent failures with their codes', async () => {
    await put('args.cms', await encrypt(Buffer.from('x'), [pairs.old]));

    const schema1 = {
      ...event('args.cms', { operation: 'verify', tenantId: tenant }),
      invocationSchemaVersion: '1.0',
    };

    const badKey = event('args.cms', { operation: 'verify', tenantId: tenant });
    badKey.tasks[0]!.s3Key = 'bad%E0%A4%A.cms';

    const outcomes = [
      await run('args.cms', { operation: 'shred' }),
      await run('args.cms', { operation: 'rewrap' }),
      await run('args.cms', { operation: 'rewrap', to: 'no-such-certificate' }),
      await run('args.cms', { operation: 'verify', tenantId: '__proto__' }),
      (await batch()(schema1)).results[0]!,
      await run('args.cms', { operation: 'rewrap', to: '0'.repeat(32) }),
      await run('args.cms', { operation: 'verify', tenantId: 'constructor' }),
      (await batch()(badKey)).results[0]!,
    ];

    expect(outcomes.map((o) => [o.resultCode, o.resultString.split(':')[0]])).toEqual([
      ['PermanentFailure', 'VALIDATION_ERROR'],
      ['PermanentFailure', 'VALIDATION_ERROR'],
      ['PermanentFailure', 'VALIDATION_ERROR'],
      ['PermanentFailure', 'VALIDATION_ERROR'],
      ['PermanentFailure', 'VALIDATION_ERROR'],
      ['PermanentFailure', 'NOT_FOUND'],
      ['PermanentFailure', 'NO_MATCHING_KEY'],
      ['PermanentFailure', 'VALIDATION_ERROR'],
    ]);
  });

  it('answers S3 or KMS throttling as a temporary failure, so S3 Batch Operations retries', async () => {
    await put('throttled.cms', await encrypt(Buffer.from('x'), [pairs.old]));
    const throttledKms = failingAt(clients.kms, 'DecryptCommand');

    const outcomes = [
      await run('throttled.cms', { operation: 'verify' }, failingAt(clients.s3, 'GetObjectCommand')),
      await run('throttled.cms', { operation: 'rewrap', to: pairs.new.id! }, undefined, throttledKms),
    ];

    expect(outcomes.map((o) => [o.resultCode, o.resultString.split(':')[0]])).toEqual([
      ['TemporaryFailure', 'SERVICE_UNAVAILABLE'],
      ['TemporaryFailure', 'SERVICE_UNAVAILABLE'],
    ]);
    // The rewrap that could not unwrap wrote nothing.
    const versions = await clients.s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'throttled.cms' }),
    );
    expect(versions.Versions).toHaveLength(1);
  });
});
