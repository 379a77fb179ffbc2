/**
 * Recording jobs on Azure (functions/azure/handlers/recording-jobs.ts) against Azurite: the HTTP
 * functions start a job and read its progress, the queue function is fed the job's messages as
 * the Functions host would, and openssl opens the results. Azurite 3.35 does not implement Put
 * Block From URL, so the real runs take the download fallback; the server-side branch is covered
 * by a client whose stageBlockFromURL records its calls and stages the range itself.
 */
import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { BlobClient, type BlockBlobClient, type ContainerClient } from '@azure/storage-blob';
import {
  decodeQueueMessage,
  ensureQueues,
  QUEUE_NAMES,
} from '../../functions/azure/adapters/queue-publisher';
import { ensureTables } from '../../functions/azure/adapters/table-repository';
import {
  getRecordingJobFunction,
  RECORDING_JOBS_QUEUE,
  RECORDING_JOBS_TABLE,
  type RecordingJobDeps,
  recordingJobDeps,
  recordingJobQueueFunction,
  startRecordingJobFunction,
} from '../../functions/azure/handlers/recording-jobs';
import { type AzureRuntime, buildRuntime, readRuntimeConfig } from '../../functions/azure/runtime';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import { FileKeystore, loadOrCreateMasterKey } from '../../functions/local/file-keystore';
import type { Role } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import type { Logger } from '../../shared/ports';
import { createEncryptStream } from '../../shared/recording';
import { parseRecordingHeader } from '../../shared/recording/header/auth-enveloped-data';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { daysFrom, makePair, rsaKey, type TestPair, tempDir } from '../helpers/pki';
import { uniqueTenantId } from '../ports/fixtures';
import { opensslDecrypt } from '../recording/helpers';
import { storageConnectionString } from './clients';

const MiB = 1024 * 1024;
/** Small blocks, so a 10.5 MiB recording spans several, and small listing pages. */
const SIZES = { firstBlockBytes: 4 * MiB, copyBlockBytes: 4 * MiB, readBytes: 2 * MiB, listPageSize: 2 };
const BASE = 'https://reccert.example.test';

const dir = tempDir('reccert-azjobs-');
const tenant = uniqueTenantId('azjobs');
const containerName = `rec-${crypto.randomBytes(4).toString('hex')}`;
const vanishing = `gone-${crypto.randomBytes(4).toString('hex')}`;
const pairs: Record<'old' | 'new' | 'foreign', TestPair & { id?: string }> = {
  old: pair('old'),
  new: pair('new'),
  foreign: pair('foreign'),
};
const warnings: string[] = [];
let runtime: AzureRuntime;
let container: ContainerClient;
let secret: Buffer;

function pair(name: string): TestPair {
  const now = new Date();
  const p = makePair({ key: rsaKey(`azjobs-${name}`), now, notAfter: daysFrom(now, 365) });
  writeFileSync(join(dir, `${name}.key`), p.keyPem);
  writeFileSync(join(dir, `${name}.pem`), p.certPem);
  return p;
}

/** A silent logger that keeps the warnings (the fallback is announced as one). */
function keepingWarnings(): Logger {
  const quiet = jsonLogger('silent');
  return {
    ...quiet,
    warn: (message: string) => {
      warnings.push(message);
    },
  };
}

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = {
    RECCERT_STORAGE_CONNECTION_STRING: storageConnectionString(),
    RECCERT_TABLE_PREFIX: `j${crypto.randomBytes(4).toString('hex')}`,
    RECCERT_KEY_CUSTODY: 'file',
    RECCERT_AUTH_MODE: 'local',
    RECCERT_RECORDING_CONTAINERS: `someone-else:their-container,missing-container,${vanishing},${containerName}`,
    DATA_DIR: dir,
    LOG_LEVEL: 'silent',
  };
  const masterKey = await loadOrCreateMasterKey(dir);
  runtime = await buildRuntime(readRuntimeConfig(env), {
    logger: keepingWarnings(),
    custody: new FileKeystore(dir, masterKey),
  });
  masterKey.fill(0);
  secret = loadOrCreateTokenSecret(dir);
  await ensureTables(runtime.tables);
  await runtime.tableClient(`${env.RECCERT_TABLE_PREFIX}${RECORDING_JOBS_TABLE}`).createTable();
  await ensureQueues(runtime.queueClient, [RECORDING_JOBS_QUEUE, ...Object.values(QUEUE_NAMES)]);
  container = runtime.blobService!.getContainerClient(containerName);
  await container.create();
  for (const name of ['old', 'new'] as const) {
    const view = await uploadCertificate(runtime.deps, { subject: 'azjobs-test' }, tenant, {
      certificate: pairs[name].certPem,
      privateKey: pairs[name].keyPem,
    });
    pairs[name].id = view.id;
  }
}, 60_000);

function deps(extra: Partial<RecordingJobDeps> = {}): RecordingJobDeps {
  return { ...recordingJobDeps(runtime), sizes: SIZES, ...extra };
}

async function token(tenants: string[] = [tenant], roles: Role[] = ['decrypt']): Promise<string> {
  return mintLocalToken(secret, { subject: 'job-runner', tenants, roles });
}

function context(dequeueCount = 1): InvocationContext {
  return new InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: 'recordingJobWorker',
    triggerMetadata: { dequeueCount },
  });
}

function json(response: HttpResponseInit): Record<string, unknown> & { error?: { code: string } } {
  const body = response.body;
  return JSON.parse(typeof body === 'string' ? body : Buffer.from(body as Uint8Array).toString('utf8'));
}

async function startJob(
  body: unknown,
  auth: { tenant?: string; holds?: string; roles?: Role[] } = {},
): Promise<HttpResponseInit> {
  const request = new HttpRequest({
    method: 'POST',
    url: `${BASE}/v1/tenants/${auth.tenant ?? tenant}/recording-jobs`,
    headers: {
      authorization: `Bearer ${await token([auth.holds ?? tenant], auth.roles)}`,
      'content-type': 'application/json',
    },
    params: { tenantId: auth.tenant ?? tenant },
    body: { string: JSON.stringify(body) },
  });
  return startRecordingJobFunction(async () => deps())(request, context());
}

async function progress(jobId: string, asTenant = tenant): Promise<HttpResponseInit> {
  const request = new HttpRequest({
    method: 'GET',
    url: `${BASE}/v1/tenants/${asTenant}/recording-jobs/${jobId}`,
    // The other tenant's caller holds only that tenant: the job id of `tenant` is not found there.
    headers: { authorization: `Bearer ${await token([asTenant])}` },
    params: { tenantId: asTenant, jobId },
  });
  return getRecordingJobFunction(async () => deps())(request, context());
}

/**
 * Feeds every queued message to the queue function until the queue is empty, as the host does: a
 * message whose invocation threw is visible again at once, and after the fifth attempt dropped
 * (the host would move it to the poison queue). Answers what the invocations threw.
 */
async function runQueue(jobDeps: RecordingJobDeps = deps()): Promise<unknown[]> {
  const queue = runtime.queueClient(RECORDING_JOBS_QUEUE);
  const handle = recordingJobQueueFunction(async () => jobDeps);
  const thrown: unknown[] = [];
  for (;;) {
    const received = await queue.receiveMessages({ numberOfMessages: 16, visibilityTimeout: 120 });
    if (received.receivedMessageItems.length === 0) return thrown;
    for (const item of received.receivedMessageItems) {
      try {
        await handle(decodeQueueMessage<unknown>(item.messageText), context(item.dequeueCount));
      } catch (error) {
        thrown.push(error);
        if (item.dequeueCount < 5) {
          await queue.updateMessage(item.messageId, item.popReceipt, undefined, 0);
          continue;
        }
      }
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}

/** Block staging that fails with the service's 503 for the first `times` calls. */
function busyStaging(times: number): (client: BlockBlobClient) => BlockBlobClient {
  let left = times;
  return (client) => {
    const stage = client.stageBlock.bind(client);
    client.stageBlock = async (...args) => {
      if (left > 0) {
        left--;
        throw Object.assign(new Error('The server is busy.'), { statusCode: 503, code: 'ServerBusy' });
      }
      return stage(...args);
    };
    return client;
  };
}

/** Starts a job, runs it to its end and answers its progress. */
async function runJob(body: Record<string, unknown>, jobDeps?: RecordingJobDeps) {
  const started = await startJob({ container: containerName, ...body });
  expect(started.status).toBe(202);
  const jobId = String(json(started).jobId);
  await runQueue(jobDeps);
  const answer = await progress(jobId);
  expect(answer.status).toBe(200);
  return json(answer) as unknown as {
    jobId: string;
    status: string;
    listingFailed?: string;
    listed: number;
    ok: number;
    failed: number;
    failures: { blob: string; code: string }[];
  };
}

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

async function put(name: string, body: Buffer): Promise<void> {
  await container.getBlockBlobClient(name).upload(body, body.length, {
    blobHTTPHeaders: { blobContentType: 'application/cms' },
    metadata: { call: 'c1' },
  });
}

async function get(name: string): Promise<Buffer> {
  return container.getBlobClient(name).downloadToBuffer();
}

async function opensslOpens(cms: Buffer, name: string, plain: Buffer): Promise<boolean> {
  const file = join(dir, `${crypto.randomUUID()}.cms`);
  writeFileSync(file, cms);
  try {
    await opensslDecrypt(file, `${file}.out`, {
      keyPath: join(dir, `${name}.key`),
      certPath: join(dir, `${name}.pem`),
    });
  } catch {
    return false;
  }
  return readFileSync(`${file}.out`).equals(plain);
}

/** Everything after the recipients: the encrypted content and the tag. */
function afterRecipients(cms: Buffer): Buffer {
  return cms.subarray(parseRecordingHeader(cms, { contentTypeSeen: false }).layout.recipientInfosEnd);
}

describe('recording jobs on Azure (queue-fed, Azurite)', () => {
  it('rewraps 0-byte, small and 10.5 MiB recordings in place: the new key opens them, the old one no longer, content and tag unchanged', async () => {
    const plains = [Buffer.alloc(0), crypto.randomBytes(1000), crypto.randomBytes(10 * MiB + MiB / 2)];
    const originals = await Promise.all([
      encrypt(plains[0]!, [pairs.old]),
      encrypt(plains[1]!, [pairs.old]),
      encrypt(plains[2]!, [pairs.old], false),
    ]);
    await Promise.all(originals.map((o, i) => put(`inplace/call-${i}.cms`, o)));
    warnings.length = 0;

    const result = await runJob({ operation: 'rewrap', prefix: 'inplace/', to: [pairs.new.id] });

    expect(result).toMatchObject({ status: 'done', listed: 3, ok: 3, failed: 0, failures: [] });
    for (const [i, original] of originals.entries()) {
      const rewrapped = await get(`inplace/call-${i}.cms`);
      expect(afterRecipients(rewrapped).equals(afterRecipients(original))).toBe(true);
      expect(await opensslOpens(rewrapped, 'new', plains[i]!)).toBe(true);
      expect(await opensslOpens(rewrapped, 'old', plains[i]!)).toBe(false);
    }
    const props = await container.getBlobClient('inplace/call-2.cms').getProperties();
    expect(props.contentType).toBe('application/cms');
    expect(props.metadata).toEqual({ call: 'c1' });
    // Azurite has no Put Block From URL: the fallback moved the media, and said so once.
    expect(warnings.filter((w) => w.startsWith('Put Block From URL is not implemented'))).toHaveLength(1);
  }, 180_000);

  it('rewraps under a target prefix keeping the recipients, and leaves the originals as they were', async () => {
    const plain = crypto.randomBytes(9 * MiB);
    const original = await encrypt(plain, [pairs.old]);
    await put('keep/big.cms', original);

    const result = await runJob({
      operation: 'rewrap',
      prefix: 'keep/',
      to: [pairs.new.id],
      keepRecipients: true,
      targetPrefix: 'rewrapped/',
    });

    expect(result).toMatchObject({ status: 'done', listed: 1, ok: 1, failed: 0 });
    expect((await get('keep/big.cms')).equals(original)).toBe(true);
    const copy = await get('rewrapped/keep/big.cms');
    expect(afterRecipients(copy).equals(afterRecipients(original))).toBe(true);
    expect(await opensslOpens(copy, 'new', plain)).toBe(true);
    expect(await opensslOpens(copy, 'old', plain)).toBe(true);
  }, 180_000);

  it('copies server-side with Put Block From URL where the service has it: the ranges after the first block, the source authorized', async () => {
    const plain = crypto.randomBytes(10 * MiB);
    const original = await encrypt(plain, [pairs.old]);
    await put('server/call.cms', original);
    const calls: { url: string; offset: number; count: number }[] = [];
    // The real service copies the range itself; Azurite cannot, so this client does what the
    // service is documented to do: read the range from the source URL and stage it.
    const serverSide = (client: BlockBlobClient): BlockBlobClient => {
      client.stageBlockFromURL = async (blockId, url, offset = 0, count = 0) => {
        calls.push({ url, offset, count });
        const bytes = await new BlobClient(url).downloadToBuffer(offset, count);
        return client.stageBlock(blockId, bytes, bytes.length);
      };
      return client;
    };
    warnings.length = 0;

    const result = await runJob(
      { operation: 'rewrap', prefix: 'server/', to: [pairs.new.id], targetPrefix: 'out/' },
      deps({ blockBlob: serverSide }),
    );

    expect(result).toMatchObject({ ok: 1, failed: 0 });
    const copyFrom = parseRecordingHeader(original, { contentTypeSeen: false }).layout.recipientInfosEnd;
    const boundary = copyFrom + SIZES.firstBlockBytes;
    expect(calls.map((c) => [c.offset, c.count])).toEqual([
      [boundary, SIZES.copyBlockBytes],
      [boundary + SIZES.copyBlockBytes, original.length - boundary - SIZES.copyBlockBytes],
    ]);
    // A read-only SAS of the source (shared key, as with a connection string).
    expect(new URL(calls[0]!.url).searchParams.get('sp')).toBe('r');
    expect(warnings).toEqual([]);
    const copy = await get('out/server/call.cms');
    expect(afterRecipients(copy).equals(afterRecipients(original))).toBe(true);
    expect(await opensslOpens(copy, 'new', plain)).toBe(true);
  }, 180_000);

  it('refuses a tampered rewrap with INTEGRITY_CHECK_FAILED and commits nothing', async () => {
    const original = await encrypt(crypto.randomBytes(9 * MiB), [pairs.old]);
    original[original.length - 40] = (original[original.length - 40] ?? 0) ^ 1;
    await put('tampered/big.cms', original);
    const before = await container.getBlobClient('tampered/big.cms').getProperties();

    const inPlace = await runJob({ operation: 'rewrap', prefix: 'tampered/', to: [pairs.new.id] });
    const copied = await runJob({
      operation: 'rewrap',
      prefix: 'tampered/',
      to: [pairs.new.id],
      targetPrefix: 'never/',
    });

    for (const result of [inPlace, copied]) {
      expect(result).toMatchObject({
        status: 'done',
        ok: 0,
        failed: 1,
        failures: [{ blob: 'tampered/big.cms', code: 'INTEGRITY_CHECK_FAILED' }],
      });
    }
    const after = await container.getBlobClient('tampered/big.cms').getProperties();
    expect(after.etag).toBe(before.etag);
    expect((await get('tampered/big.cms')).equals(original)).toBe(true);
    expect(await container.getBlobClient('never/tampered/big.cms').exists()).toBe(false);
  }, 180_000);

  it('verifies good, tampered, foreign and non-CMS blobs, each with its outcome in the progress', async () => {
    const plain = crypto.randomBytes(3 * MiB);
    const good = await encrypt(plain, [pairs.old]);
    const tampered = Buffer.from(good);
    tampered[tampered.length - 100] = (tampered[tampered.length - 100] ?? 0) ^ 1;
    await put('verify/good.cms', good);
    await put('verify/rewrapped-later.cms', await encrypt(plain, [pairs.new]));
    await put('verify/tampered.cms', tampered);
    await put('verify/foreign.cms', await encrypt(plain, [pairs.foreign]));
    await put('verify/notes.txt', Buffer.from('not a recording'));
    const before = await get('verify/good.cms');

    const result = await runJob({ operation: 'verify', prefix: 'verify/' });

    expect(result).toMatchObject({ status: 'done', listed: 5, ok: 2, failed: 3 });
    expect(result.failures).toEqual([
      { blob: 'verify/foreign.cms', code: 'NO_MATCHING_KEY' },
      { blob: 'verify/notes.txt', code: 'NOT_CMS' },
      { blob: 'verify/tampered.cms', code: 'INTEGRITY_CHECK_FAILED' },
    ]);
    expect((await get('verify/good.cms')).equals(before)).toBe(true);
  }, 120_000);

  it('lets the queue redeliver a blob on a 503 and records SERVICE_UNAVAILABLE once the attempts run out, writing nothing', async () => {
    const plain = crypto.randomBytes(6 * MiB);
    await put('busy/once.cms', await encrypt(plain, [pairs.old]));

    const retried = await runJob(
      { operation: 'rewrap', prefix: 'busy/', to: [pairs.new.id], targetPrefix: 'busy-out/' },
      deps({ blockBlob: busyStaging(2) }),
    );
    const exhausted = await runJob(
      { operation: 'rewrap', prefix: 'busy/', to: [pairs.new.id], targetPrefix: 'busy-never/' },
      deps({ blockBlob: busyStaging(Number.POSITIVE_INFINITY) }),
    );

    expect(retried).toMatchObject({ status: 'done', listed: 1, ok: 1, failed: 0 });
    expect(await opensslOpens(await get('busy-out/busy/once.cms'), 'new', plain)).toBe(true);
    expect(exhausted).toMatchObject({
      status: 'done',
      ok: 0,
      failures: [{ blob: 'busy/once.cms', code: 'SERVICE_UNAVAILABLE' }],
    });
    expect(await container.getBlobClient('busy-never/busy/once.cms').exists()).toBe(false);
  }, 180_000);

  it('ends the listing with its code when the container is gone, instead of listing for ever', async () => {
    const gone = runtime.blobService!.getContainerClient(vanishing);
    await gone.create();
    const started = await startJob({ operation: 'verify', container: vanishing });
    await gone.delete();

    await runQueue();
    const answer = json(await progress(String(json(started).jobId)));

    expect(answer).toMatchObject({ status: 'done', listed: 0, listingFailed: 'NOT_FOUND' });
  }, 60_000);

  it("answers as the API: 403 without the decrypt role or for another tenant, 404 for another tenant's job, 400 for a bad body, the job audited", async () => {
    const started = await startJob({ operation: 'verify', container: containerName, prefix: 'none/' });
    const jobId = String(json(started).jobId);
    const other = uniqueTenantId('azjobs-other');

    const wrongRole = await startJob(
      { operation: 'verify', container: containerName },
      { roles: ['admin', 'operator'] },
    );
    const wrongTenant = await startJob({ operation: 'verify', container: containerName }, { tenant: other });
    const foreignJob = await progress(jobId, other);
    const noTargets = await startJob({ operation: 'rewrap', container: containerName });
    const unknownTarget = await startJob({
      operation: 'rewrap',
      container: containerName,
      to: ['0'.repeat(32)],
    });
    const notAllowed = await startJob({ operation: 'verify', container: 'somebody-elses' });
    const missing = await startJob({ operation: 'verify', container: 'missing-container' });
    // `someone-else:their-container` gives that container to that tenant only.
    const theirs = await startJob({ operation: 'verify', container: 'their-container' });
    const theirsForThem = await startJob(
      { operation: 'verify', container: 'their-container' },
      { tenant: 'someone-else', holds: 'someone-else' },
    );

    expect(started.status).toBe(202);
    expect([wrongRole.status, json(wrongRole).error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(wrongTenant.status).toBe(403);
    expect([foreignJob.status, json(foreignJob).error?.code]).toEqual([404, 'NOT_FOUND']);
    expect([noTargets.status, json(noTargets).error?.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect([unknownTarget.status, json(unknownTarget).error?.code]).toEqual([404, 'NOT_FOUND']);
    expect([notAllowed.status, json(notAllowed).error?.code]).toEqual([403, 'FORBIDDEN']);
    expect([missing.status, json(missing).error?.code]).toEqual([404, 'NOT_FOUND']);
    expect([theirs.status, json(theirs).error?.code]).toEqual([403, 'FORBIDDEN']);
    // Allowed for them; the container just does not exist here.
    expect([theirsForThem.status, json(theirsForThem).error?.code]).toEqual([404, 'NOT_FOUND']);
    const audit = await runtime.deps.repo.listAudit(tenant, 50);
    expect(audit.map((e) => e.action)).toContain('recording.job');
    await runQueue();
  }, 60_000);
});
