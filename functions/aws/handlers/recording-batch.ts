/**
 * The recording-batch function: S3 Batch Operations invokes it per object of a job's manifest
 * (invocation schema 2.0) to rewrap or verify a recording where it lies (DESIGN section 10).
 *
 * - `verify` streams the object through the tag verifier with ranged GETs; the plaintext is
 *   discarded as it is produced. Result `ok`, or the code the decryptor gives.
 * - `rewrap` reads the header with ranged GETs (growing the range until the plan has all it
 *   needs), unwraps the session key through custody, and writes the new object with a multipart
 *   upload: part 1 is the new header plus the original's bytes up to `firstPartBytes` past the old
 *   recipients; every later part is an `UploadPartCopy` range of the original, so the media is
 *   copied by S3 and never passes through the function. There is no server-side GCM, so the tag
 *   is checked by streaming the rest of the original through the verifier while the copies run:
 *   the object is read once (the copy itself reads only the header and the first part). Only once
 *   the tag verified is the upload completed; on any failure it is aborted and nothing is
 *   written. A small object (no more than the first part) is one PutObject after verification.
 *
 * Outcomes: `Succeeded` with `ok`; `PermanentFailure` with `CODE: reason` for what a retry
 * cannot fix (not CMS, no matching key, a failed tag, a missing object, bad job arguments);
 * `TemporaryFailure` for throttling, 5xx and timeouts of S3, KMS or DynamoDB (S3 Batch retries).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { AppError, codeOf, hasKind, UnavailableError, ValidationError } from '../../../shared/errors';
import { type BatchTenantCache, batchTenantCache } from '../../../shared/usecases/batch-tenant';
import type { CoreDeps } from '../../../shared/usecases/deps';
import {
  openRecordingCheck,
  planRangedRewrap,
  type RangedSource,
  type RecordingCheck,
  verifyFrom,
} from '../../../shared/usecases/ranged-rewrap';
import { ESCROW_TARGET } from '../../../shared/usecases/rewrap-targets';
import { once } from '../../common/once';
import { errorName, isRetryable } from '../adapters/aws-errors';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { KmsS3Keystore } from '../adapters/kms-s3-keystore';
import { coreDeps, requireEnv } from '../runtime';

/** One object of the job (schema 2.0). */
export interface BatchTask {
  taskId: string;
  s3Bucket: string;
  /** URL-encoded, as in the manifest. */
  s3Key: string;
  s3VersionId?: string | null;
}

/** What S3 Batch Operations sends (invocation schema 2.0). */
export interface BatchEvent {
  invocationSchemaVersion: string;
  invocationId: string;
  job: { id: string; userArguments?: Record<string, string> | null };
  tasks: BatchTask[];
}

export type BatchResultCode = 'Succeeded' | 'TemporaryFailure' | 'PermanentFailure';

/** What the function answers; the completion report keeps `resultString` per object. */
export interface BatchResponse {
  invocationSchemaVersion: string;
  treatMissingKeysAs: 'PermanentFailure';
  invocationId: string;
  results: { taskId: string; resultCode: BatchResultCode; resultString: string }[];
}

/** Part sizes (bytes). S3 needs at least 5 MiB for every part but the last. */
export interface BatchSizes {
  /** Original bytes past the old recipients that go into part 1 with the new header. */
  firstPartBytes: number;
  /** Size of each `UploadPartCopy` range (raised so a copy never needs more than 10,000 parts). */
  copyPartBytes: number;
  /** Ranged GET size while verifying, and the first header read's upper bound. */
  readBytes: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_SIZES: BatchSizes = {
  firstPartBytes: 5 * MiB,
  copyPartBytes: 256 * MiB,
  readBytes: 8 * MiB,
};
const MAX_PARTS = 10_000;
/** S3's smallest part but the last. */
const MIN_PART = 5 * MiB;
/** The resultString S3 keeps is short; ours are `CODE: reason`, cut to this. */
const RESULT_STRING_MAX = 512;

/** What the function needs: the core (repository, custody, logger) and the recordings' S3. */
export interface BatchDeps {
  core: CoreDeps;
  s3: S3Client;
  /** The job's tenant, read once for the objects that follow (see shared/usecases/batch-tenant.ts). */
  tenants: BatchTenantCache;
  sizes?: Partial<BatchSizes>;
}

/** A job's arguments, checked. */
interface JobArguments {
  operation: 'rewrap' | 'verify';
  tenantId: string;
  to: string[];
  keepRecipients: boolean;
  targetPrefix: string | undefined;
}

function jobArguments(args: Record<string, string> | null | undefined): JobArguments {
  const a = args ?? {};
  const bad = (message: string) => new ValidationError('VALIDATION_ERROR', message);
  const operation = a.operation;
  if (operation !== 'rewrap' && operation !== 'verify') {
    throw bad('userArguments.operation must be "rewrap" or "verify".');
  }
  const tenantId = a.tenantId ?? '';
  // The API's id rules (shared/http/schemas.ts, not imported: it would bring zod into this bundle).
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(tenantId)) {
    throw bad('userArguments.tenantId must be a tenant id (letters, digits, _ . -; up to 64).');
  }
  const to = (a.to ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (operation === 'rewrap' && to.length === 0) {
    throw bad('userArguments.to must name the target certificate ids, comma-separated, for a rewrap.');
  }
  const notAnId = to.find((id) => id !== ESCROW_TARGET && !/^[0-9a-f]{32}$/.test(id));
  if (notAnId !== undefined) {
    throw bad(
      `userArguments.to: '${notAnId.slice(0, 40)}' is neither a certificate id (32 lower-case hex digits) nor "escrow".`,
    );
  }
  const keep = a.keepRecipients ?? 'false';
  if (keep !== 'true' && keep !== 'false')
    throw bad('userArguments.keepRecipients must be "true" or "false".');
  const targetPrefix = a.targetPrefix === undefined || a.targetPrefix === '' ? undefined : a.targetPrefix;
  return { operation, tenantId, to, keepRecipients: keep === 'true', targetPrefix };
}

/** What one object came to. */
interface Outcome {
  resultCode: BatchResultCode;
  resultString: string;
}

const OK: Outcome = { resultCode: 'Succeeded', resultString: 'ok' };

/** A failure as the report keeps it: our code (or one for an S3 answer) and a short reason. */
export function outcomeOf(error: unknown): Outcome {
  const line = (code: string, message: string) =>
    `${code}: ${message.replace(/\s+/g, ' ')}`.slice(0, RESULT_STRING_MAX);
  if (error instanceof AppError) {
    const temporary = hasKind(error, 'unavailable');
    return {
      resultCode: temporary ? 'TemporaryFailure' : 'PermanentFailure',
      resultString: line(error.code, error.message),
    };
  }
  const name = errorName(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (name === 'NoSuchKey' || name === 'NoSuchVersion' || name === 'NotFound' || status === 404) {
    return {
      resultCode: 'PermanentFailure',
      resultString: line('NOT_FOUND', 'The object or version does not exist.'),
    };
  }
  if (name === 'PreconditionFailed' || status === 412) {
    return {
      resultCode: 'TemporaryFailure',
      resultString: line(
        'SERVICE_UNAVAILABLE',
        'The object changed while it was read; the retry reads it anew.',
      ),
    };
  }
  if (isRetryable(error)) {
    return {
      resultCode: 'TemporaryFailure',
      resultString: line(
        'SERVICE_UNAVAILABLE',
        `${name ?? 'A dependency'} failed; S3 Batch Operations retries.`,
      ),
    };
  }
  if (name === 'AccessDenied' || status === 403) {
    return {
      resultCode: 'PermanentFailure',
      resultString: line('FORBIDDEN', "The function's role may not read or write this object."),
    };
  }
  return {
    resultCode: 'PermanentFailure',
    resultString: line('INTERNAL_ERROR', 'The object could not be processed.'),
  };
}

/**
 * The manifest's key: URL-encoded, `+` for a space, as S3 Batch Operations passes it (and as
 * AWS's own examples decode it, Python's `unquote_plus`).
 */
export function decodeKey(s3Key: string): string {
  try {
    return decodeURIComponent(s3Key.replace(/\+/g, ' '));
  } catch {
    throw new ValidationError(
      'VALIDATION_ERROR',
      'The manifest key is not URL-encoded; list keys URL-encoded.',
    );
  }
}

/** `bucket/key?versionId=` for CopySource, each key segment URL-encoded. */
function copySource(bucket: string, key: string, versionId: string | undefined): string {
  const path = `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId === undefined ? path : `${path}?versionId=${encodeURIComponent(versionId)}`;
}

/** One version of one object, read by ranged GETs (pinned by version id, else by ETag). */
class RangedObject implements RangedSource {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly key: string,
    readonly versionId: string | undefined,
    readonly etag: string | undefined,
    readonly size: number,
  ) {}

  /** Bytes [start, end). */
  async read(start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const out = await this.s3.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.key,
        Range: `bytes=${start}-${end - 1}`,
        ...(this.versionId !== undefined ? { VersionId: this.versionId } : { IfMatch: this.etag }),
      }),
    );
    const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
    if (bytes.length !== end - start) {
      throw new UnavailableError('The object changed while it was read; the retry reads it anew.');
    }
    return bytes;
  }
}

/** The function, per invocation: each task's outcome; an invocation never throws. */
export function recordingBatchFunction(
  makeDeps: () => BatchDeps,
): (event: BatchEvent) => Promise<BatchResponse> {
  const deps = once(makeDeps);
  return async (event) => {
    const tasks = Array.isArray(event?.tasks) ? event.tasks : [];
    const results: BatchResponse['results'] = [];
    for (const task of tasks) {
      const outcome = await runTask(deps(), event, task);
      results.push({ taskId: task.taskId, ...outcome });
    }
    return {
      invocationSchemaVersion: event?.invocationSchemaVersion ?? '2.0',
      treatMissingKeysAs: 'PermanentFailure',
      invocationId: event?.invocationId ?? '',
      results,
    };
  };
}

async function runTask(deps: BatchDeps, event: BatchEvent, task: BatchTask): Promise<Outcome> {
  const { logger } = deps.core;
  const started = Date.now();
  let outcome: Outcome;
  let key: string | undefined;
  try {
    if (event.invocationSchemaVersion !== '2.0') {
      throw new ValidationError(
        'VALIDATION_ERROR',
        'The job must invoke this function with invocation schema 2.0 (it carries the userArguments).',
      );
    }
    const args = jobArguments(event.job?.userArguments);
    key = decodeKey(task.s3Key);
    await processObject(deps, args, task.s3Bucket, key, task.s3VersionId ?? undefined);
    outcome = OK;
  } catch (error) {
    outcome = outcomeOf(error);
    if (codeOf(error) === undefined && outcome.resultCode === 'PermanentFailure') {
      logger.error('batch task failed unexpectedly', { error: String(error) });
    }
  }
  // The report keeps the outcome; the log line adds the job and timing (never key material).
  logger.info('batch task', {
    jobId: event.job?.id,
    taskId: task.taskId,
    bucket: task.s3Bucket,
    key,
    resultCode: outcome.resultCode,
    resultString: outcome.resultString,
    ms: Date.now() - started,
  });
  return outcome;
}

async function processObject(
  deps: BatchDeps,
  args: JobArguments,
  bucket: string,
  key: string,
  versionId: string | undefined,
): Promise<void> {
  const given = { ...DEFAULT_SIZES, ...deps.sizes };
  const sizes: BatchSizes = {
    ...given,
    firstPartBytes: Math.max(MIN_PART, given.firstPartBytes),
    copyPartBytes: Math.max(MIN_PART, given.copyPartBytes),
  };
  const { records, targets } = await deps.tenants.get(
    args.tenantId,
    args.operation === 'rewrap' ? args.to : undefined,
  );

  const head = await deps.s3.send(
    new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
  );
  const object = new RangedObject(
    deps.s3,
    bucket,
    key,
    versionId ?? head.VersionId ?? undefined,
    head.ETag,
    head.ContentLength ?? 0,
  );

  const check = openRecordingCheck(deps.core, records, args.operation === 'rewrap');
  try {
    if (args.operation === 'verify') {
      await verifyFrom(object, check.verifier, 0, sizes.readBytes);
      return;
    }
    await rewrapObject(deps.s3, { object, head, check }, targets, args, sizes);
  } finally {
    check.close();
  }
}

/** The object being rewrapped: its bytes, its HEAD, and its tag check. */
interface Source {
  object: RangedObject;
  head: HeadObjectCommandOutput;
  check: RecordingCheck;
}

async function rewrapObject(
  s3: S3Client,
  { object, head, check }: Source,
  targets: string[],
  args: JobArguments,
  sizes: BatchSizes,
): Promise<void> {
  // Part 1: the new header and the original up to `firstPartBytes` past the old recipients.
  const { firstPart, boundary } = await planRangedRewrap(object, check, {
    to: targets,
    keepRecipients: args.keepRecipients,
    readBytes: sizes.readBytes,
    firstPartBytes: sizes.firstPartBytes,
  });
  const target = (args.targetPrefix ?? '') + object.key;
  const attributes = {
    ContentType: head.ContentType,
    Metadata: head.Metadata,
    ...(head.CacheControl ? { CacheControl: head.CacheControl } : {}),
    ...(head.ContentDisposition ? { ContentDisposition: head.ContentDisposition } : {}),
    ...(head.ContentEncoding ? { ContentEncoding: head.ContentEncoding } : {}),
    ...(head.ContentLanguage ? { ContentLanguage: head.ContentLanguage } : {}),
  };

  if (boundary >= object.size) {
    check.verifier.end();
    await check.verifier.completed;
    await s3.send(
      new PutObjectCommand({ Bucket: object.bucket, Key: target, Body: firstPart, ...attributes }),
    );
    return;
  }

  const upload = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: object.bucket, Key: target, ...attributes }),
  );
  const uploadId = upload.UploadId;
  if (!uploadId) throw new Error('S3 answered CreateMultipartUpload without an UploadId.');
  const where = { Bucket: object.bucket, Key: target, UploadId: uploadId };
  try {
    const one = await s3.send(new UploadPartCommand({ ...where, PartNumber: 1, Body: firstPart }));
    const rest = object.size - boundary;
    const step = Math.max(sizes.copyPartBytes, Math.ceil(rest / (MAX_PARTS - 1)));
    // The first failure of either side stops the other; it is the one reported.
    let failure: { error: unknown } | undefined;
    const stopOn = (error: unknown): never => {
      failure ??= { error };
      throw error;
    };
    const copies = async (): Promise<CompletedPart[]> => {
      const parts: CompletedPart[] = [];
      for (let start = boundary, n = 2; start < object.size && !failure; start += step, n++) {
        const end = Math.min(object.size, start + step);
        const out = await s3.send(
          new UploadPartCopyCommand({
            ...where,
            PartNumber: n,
            CopySource: copySource(object.bucket, object.key, object.versionId),
            CopySourceRange: `bytes=${start}-${end - 1}`,
            ...(object.versionId === undefined && object.etag ? { CopySourceIfMatch: object.etag } : {}),
          }),
        );
        parts.push({ PartNumber: n, ETag: out.CopyPartResult?.ETag });
      }
      return parts;
    };
    // The tag is checked while S3 copies; the upload completes only when both are done. On a
    // failure the other side stops, and the abort waits until no part is in flight.
    const [copied] = await Promise.allSettled([
      copies().catch(stopOn),
      verifyFrom(object, check.verifier, boundary, sizes.readBytes, () => failure !== undefined).catch(
        stopOn,
      ),
    ]);
    if (failure) throw failure.error;
    if (copied.status === 'rejected') throw copied.reason;
    await s3.send(
      new CompleteMultipartUploadCommand({
        ...where,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: one.ETag }, ...copied.value] },
      }),
    );
  } catch (error) {
    await s3.send(new AbortMultipartUploadCommand(where)).catch(() => undefined);
    throw error;
  }
}

/** The function's deps from its clients and environment (TABLE_NAME, BUCKET_NAME, KMS_KEY_ID). */
export function batchDeps(
  clients: { dynamodb: DynamoDBClient; s3: S3Client; kms: KMSClient },
  env: NodeJS.ProcessEnv = process.env,
): BatchDeps {
  const repo = new DynamoDbCertificateRepository(clients.dynamodb, {
    tableName: requireEnv('TABLE_NAME', env),
  });
  const core = coreDeps(
    'recording-batch',
    {
      repo,
      // Read only: the escrow certificate as a rewrap target (`to=escrow`).
      escrow: repo,
      custody: new KmsS3Keystore(clients.kms, clients.s3, {
        bucketName: requireEnv('BUCKET_NAME', env),
        kmsKeyId: requireEnv('KMS_KEY_ID', env),
      }),
    },
    env,
  );
  return { core, s3: clients.s3, tenants: batchTenantCache(core) };
}

/** Lambda entry point (S3 Batch Operations, invocation schema 2.0). */
export const handler = recordingBatchFunction(() =>
  batchDeps({ dynamodb: new DynamoDBClient({}), s3: new S3Client({}), kms: new KMSClient({}) }),
);
