/**
 * Recording jobs, the Azure batch engine of rewrap and verify (DESIGN section 10), the twin of
 * the AWS recording-batch function: the same per-recording work and the same outcome per blob
 * (`ok`, or the error code).
 *
 * - `POST /v1/tenants/{tenantId}/recording-jobs` (decrypt role, audited as `recording.job`)
 *   checks the job, writes its row and queues one listing message.
 * - The `recording-jobs` queue trigger takes two kinds of message. A listing message lists one
 *   page of the container prefix, queues one message per blob and, if the listing goes on, a
 *   listing message for the next page (so no invocation runs long, however large the
 *   container). A blob message rewraps or verifies one blob and records its outcome.
 * - `GET /v1/tenants/{tenantId}/recording-jobs/{jobId}` sums the job's rows: listed, ok, failed
 *   and the failures.
 *
 * Progress lives in the `recordingjobs` table, one partition per job: the job row, one row per
 * listed page (its count) and one row per blob (its outcome). Each writer upserts its own row,
 * so concurrent workers never lose a count and a redelivered message counts once.
 *
 * Failures a retry may fix (429, 5xx, timeouts, a blob changed while read) are thrown: the queue
 * redelivers, and after `maxDequeueCount` attempts the message goes to `recording-jobs-poison`
 * (the blob's row then says SERVICE_UNAVAILABLE). Everything else is the blob's outcome.
 *
 * Rewrap: the header is read with ranged downloads, the new header and the first bytes of
 * content are staged with Put Block, the rest as Put Block From URL ranges of the original (the
 * media is copied by the service), and the block list is committed only once the tag verified by
 * streaming the original through the verifier; on failure nothing is committed (uncommitted
 * blocks are discarded by the service after 7 days). The new blob replaces the original in place
 * (a new version where blob versioning is on) or lands under `targetPrefix`.
 */
import crypto from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type {
  BlobClient,
  BlobGetPropertiesResponse,
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
} from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import { z } from 'zod';
import type { Principal } from '../../../shared/domain/types';
import {
  AppError,
  AuthError,
  codeOf,
  hasKind,
  NotFoundError,
  UnavailableError,
} from '../../../shared/errors';
import {
  type ApiRequest,
  type ApiResponse,
  type Authenticator,
  errorResponse,
  zodMessage,
} from '../../../shared/http/api-handler';
import { authorize } from '../../../shared/http/auth';
import { parseBody } from '../../../shared/http/body';
import { REQUEST_ID_HEADER, requestIdOf } from '../../../shared/http/request-id';
import { CertificateId, TenantId } from '../../../shared/http/schemas';
import { type BatchTenantCache, batchTenantCache } from '../../../shared/usecases/batch-tenant';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { recordCommittedChange } from '../../../shared/usecases/deps';
import {
  openRecordingCheck,
  planRangedRewrap,
  type RecordingCheck,
  verifyFrom,
} from '../../../shared/usecases/ranged-rewrap';
import {
  ESCROW_TARGET,
  MAX_REWRAP_TARGETS,
  resolveRewrapTargets,
} from '../../../shared/usecases/rewrap-targets';
import { auditEntry } from '../../../shared/usecases/trail';
import { describeError } from '../../common/describe-error';
import { isRetryable, statusOf } from '../adapters/azure-errors';
import { decodeQueueMessage, encodeQueueMessage } from '../adapters/queue-publisher';
import { type CopySource, copySourceOf, PinnedBlob, RangeStager } from '../adapters/recording-blobs';
import { type AzureRuntime, defaultRuntime } from '../runtime';
import { MAX_DEQUEUE_COUNT } from './assignment-queue';
import { toApiRequest, toHttpResponseInit } from './http';

/** The queue of listing and blob messages (Bicep creates it). */
export const RECORDING_JOBS_QUEUE = 'recording-jobs';
/** The progress table (after RECCERT_TABLE_PREFIX; Bicep creates it). */
export const RECORDING_JOBS_TABLE = 'recordingjobs';

/** Sizes (bytes) and counts of the work; tests make them small. */
export interface JobSizes {
  /** Original bytes past the old recipients staged with the new header in the first block. */
  firstBlockBytes: number;
  /** Size of each Put Block From URL range (raised so a blob never needs more than 50,000 blocks). */
  copyBlockBytes: number;
  /** Ranged download size while verifying. */
  readBytes: number;
  /** Blobs listed per listing message. */
  listPageSize: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_JOB_SIZES: JobSizes = {
  firstBlockBytes: 4 * MiB,
  // Each Put Block From URL stays a short request (well inside the service's timeouts).
  copyBlockBytes: 100 * MiB,
  readBytes: 8 * MiB,
  listPageSize: 1000,
};
const MAX_BLOCKS = 50_000;
/** Failures the progress answer lists (the counts cover all). */
const MAX_LISTED_FAILURES = 1000;

/** What the job functions need. */
export interface RecordingJobDeps {
  core: CoreDeps;
  authenticate: Authenticator;
  jobs: TableClient;
  queue: QueueClient;
  blobs: BlobServiceClient | undefined;
  /**
   * The containers jobs may name (RECCERT_RECORDING_CONTAINERS): `container` for every tenant, or
   * `tenantId:container` for that tenant only.
   */
  containers: readonly string[];
  /** A job's tenant, read once for the blobs that follow (see shared/usecases/batch-tenant.ts). */
  tenants: BatchTenantCache;
  copySource(blob: BlobClient): Promise<CopySource>;
  /** The client blocks are staged through (tests wrap it to inject the service's answers). */
  blockBlob?(client: BlockBlobClient): BlockBlobClient;
  sizes?: Partial<JobSizes>;
}

/** The job functions' deps over a runtime. */
export function recordingJobDeps(runtime: AzureRuntime): RecordingJobDeps {
  return {
    core: runtime.deps,
    authenticate: runtime.authenticate,
    jobs: runtime.tableClient(`${runtime.config.storage.tablePrefix}${RECORDING_JOBS_TABLE}`),
    queue: runtime.queueClient(RECORDING_JOBS_QUEUE),
    blobs: runtime.blobService,
    containers: runtime.config.storage.recordingContainers,
    tenants: batchTenantCache(runtime.deps),
    copySource: (blob) => copySourceOf(blob, runtime.tokenCredential),
  };
}

const ContainerName = z
  .string()
  .regex(
    /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
    'a container name: 3-63 lower-case letters, digits, single dashes',
  );
const BlobPrefix = z
  .string()
  .max(512)
  .regex(/^[^\\]*$/, 'no backslashes');

/** The body of `POST .../recording-jobs`. */
export const RecordingJobBody = z
  .object({
    operation: z.enum(['rewrap', 'verify']),
    container: ContainerName,
    prefix: BlobPrefix.optional(),
    to: z
      .array(z.union([CertificateId, z.literal(ESCROW_TARGET)]))
      .max(MAX_REWRAP_TARGETS)
      .optional(),
    keepRecipients: z.boolean().optional(),
    targetPrefix: BlobPrefix.min(1).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.operation === 'rewrap' && (body.to?.length ?? 0) === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'a rewrap names 1 to 4 targets (certificate ids or "escrow")',
      });
    }
    if (
      body.operation === 'verify' &&
      (body.to !== undefined || body.targetPrefix !== undefined || body.keepRecipients !== undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['operation'],
        message: 'to, keepRecipients and targetPrefix are for a rewrap',
      });
    }
    if (body.targetPrefix !== undefined && (body.prefix ?? '').startsWith(body.targetPrefix)) {
      ctx.addIssue({
        code: 'custom',
        path: ['targetPrefix'],
        message: 'the listed prefix must not lie under targetPrefix',
      });
    }
  });

/** What every message of a job carries. */
interface JobSpec {
  tenantId: string;
  jobId: string;
  operation: 'rewrap' | 'verify';
  container: string;
  prefix: string;
  to: string[];
  keepRecipients: boolean;
  targetPrefix?: string;
}

type JobMessage =
  | { kind: 'list'; job: JobSpec; page: number; marker?: string }
  | { kind: 'blob'; job: JobSpec; blob: string };

const partitionOf = (tenantId: string, jobId: string) => `${tenantId}|${jobId}`;
const pageRow = (page: number) => `page-${String(page).padStart(9, '0')}`;
const blobRow = (blob: string) => `blob-${crypto.createHash('sha256').update(blob).digest('hex')}`;

function sizesOf(deps: RecordingJobDeps): JobSizes {
  return { ...DEFAULT_JOB_SIZES, ...deps.sizes };
}

// --- HTTP ------------------------------------------------------------------------------------

/** A job's progress, as `GET .../recording-jobs/{jobId}` answers it. */
export interface JobProgress {
  jobId: string;
  operation: 'rewrap' | 'verify';
  container: string;
  prefix: string;
  createdAt: string;
  /** `listing` while pages remain, `running` while listed blobs remain, then `done`. */
  status: 'listing' | 'running' | 'done';
  listed: number;
  ok: number;
  failed: number;
  failures: { blob: string; code: string }[];
  /** Why the listing stopped early (the code), when it did: the counts then cover what was listed. */
  listingFailed?: string;
}

/** The caller, as the API checks it: authenticated, holding the decrypt role and the tenant. */
async function callerFor(
  deps: RecordingJobDeps,
  request: HttpRequest,
  tenantId: string,
): Promise<{ principal: Principal; apiRequest: ApiRequest }> {
  const apiRequest = await toApiRequest(request);
  const principal = await deps.authenticate(apiRequest);
  authorize(principal, ['decrypt'], tenantId);
  const parsed = TenantId.safeParse(tenantId);
  if (!parsed.success) throw zodMessage('path', parsed.error);
  return { principal, apiRequest };
}

async function startJob(deps: RecordingJobDeps, request: HttpRequest): Promise<ApiResponse> {
  const tenantId = request.params.tenantId ?? '';
  const { principal, apiRequest } = await callerFor(deps, request, tenantId);
  const parsed = RecordingJobBody.safeParse(
    await parseBody(apiRequest.body ?? Buffer.alloc(0), apiRequest.headers['content-type'], false),
  );
  if (!parsed.success) throw zodMessage('body', parsed.error);
  const body = parsed.data;
  const allowed = deps.containers.some((c) => c === body.container || c === `${tenantId}:${body.container}`);
  if (!deps.blobs || !allowed) {
    throw new AuthError(
      'FORBIDDEN',
      `Container '${body.container}' is not one this deployment runs recording jobs on for tenant '${tenantId}' (RECCERT_RECORDING_CONTAINERS).`,
    );
  }
  const blobs = deps.blobs;
  if (!(await asTransient('Blob storage', () => blobs.getContainerClient(body.container).exists()))) {
    throw new NotFoundError('container', body.container);
  }
  const to = [...new Set(body.to ?? [])];
  // The targets are checked now, so a job with a wrong one fails here and not once per blob.
  if (body.operation === 'rewrap') await resolveRewrapTargets(deps.core, tenantId, to);
  const job: JobSpec = {
    tenantId,
    jobId: deps.core.ids.newId(),
    operation: body.operation,
    container: body.container,
    prefix: body.prefix ?? '',
    to,
    keepRecipients: body.keepRecipients ?? false,
    ...(body.targetPrefix !== undefined ? { targetPrefix: body.targetPrefix } : {}),
  };
  const createdAt = deps.core.clock.now().toISOString();
  await asTransient('Table storage', () =>
    deps.jobs.createEntity({
      partitionKey: partitionOf(tenantId, job.jobId),
      rowKey: 'job',
      spec: JSON.stringify(job),
      createdAt,
      actor: principal.subject,
    }),
  );
  await asTransient('Queue storage', () =>
    deps.queue.sendMessage(encodeQueueMessage({ kind: 'list', job, page: 0 } satisfies JobMessage)),
  );
  await recordCommittedChange(
    deps.core,
    auditEntry(deps.core, {
      tenantId,
      actor: principal.subject,
      action: 'recording.job',
      details: {
        jobId: job.jobId,
        operation: job.operation,
        container: job.container,
        prefix: job.prefix,
        ...(job.operation === 'rewrap'
          ? { to: job.to, keepRecipients: job.keepRecipients, targetPrefix: job.targetPrefix ?? null }
          : {}),
      },
    }),
    [],
  );
  const location = `/v1/tenants/${encodeURIComponent(tenantId)}/recording-jobs/${job.jobId}`;
  return json(202, { jobId: job.jobId, status: 'listing', location }, { location });
}

async function jobProgress(deps: RecordingJobDeps, request: HttpRequest): Promise<ApiResponse> {
  const tenantId = request.params.tenantId ?? '';
  await callerFor(deps, request, tenantId);
  const jobId = request.params.jobId ?? '';
  if (!/^[0-9a-f-]{36}$/.test(jobId)) throw new NotFoundError('recording job', jobId.slice(0, 64));
  const partition = partitionOf(tenantId, jobId);
  const progress: Partial<JobProgress> & { failures: JobProgress['failures'] } = {
    listed: 0,
    ok: 0,
    failed: 0,
    failures: [],
  };
  let listingDone = false;
  let listingFailed: string | undefined;
  let found = false;
  await asTransient('Table storage', async () => {
    const rows = deps.jobs.listEntities<Record<string, unknown>>({
      // The columns counted only: a large job has a row per blob.
      queryOptions: {
        filter: `PartitionKey eq '${partition.replace(/'/g, "''")}'`,
        select: ['RowKey', 'spec', 'createdAt', 'count', 'last', 'code', 'outcome', 'blob'],
      },
    });
    for await (const row of rows) {
      const key = String(row.rowKey);
      if (key === 'job') {
        found = true;
        const spec = JSON.parse(String(row.spec)) as JobSpec;
        Object.assign(progress, {
          operation: spec.operation,
          container: spec.container,
          prefix: spec.prefix,
          createdAt: String(row.createdAt),
        });
      } else if (key.startsWith('page-')) {
        progress.listed = (progress.listed ?? 0) + Number(row.count ?? 0);
        if (row.last === true) listingDone = true;
        if (typeof row.code === 'string') listingFailed = row.code;
      } else if (row.outcome === 'ok') {
        progress.ok = (progress.ok ?? 0) + 1;
      } else {
        progress.failed = (progress.failed ?? 0) + 1;
        if (progress.failures.length < MAX_LISTED_FAILURES)
          progress.failures.push({ blob: String(row.blob), code: String(row.code) });
      }
    }
  });
  if (!found) throw new NotFoundError('recording job', jobId);
  const done = (progress.ok ?? 0) + (progress.failed ?? 0);
  const status = !listingDone ? 'listing' : done < (progress.listed ?? 0) ? 'running' : 'done';
  progress.failures.sort((a, b) => (a.blob < b.blob ? -1 : 1));
  return json(200, {
    jobId,
    operation: progress.operation,
    container: progress.container,
    prefix: progress.prefix,
    createdAt: progress.createdAt,
    status,
    listed: progress.listed,
    ok: progress.ok,
    failed: progress.failed,
    failures: progress.failures,
    ...(listingFailed !== undefined ? { listingFailed } : {}),
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** A dependency call; a failure a retry may fix becomes 503 (the API's answer). */
async function asTransient<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AppError || !isRetryable(error)) throw error;
    throw new UnavailableError(`${what} is unavailable; retry shortly.`, { cause: error });
  }
}

/** An HTTP function over the job deps, answering in the API's error shape. */
function jobHttpFunction(
  getDeps: () => Promise<RecordingJobDeps>,
  handle: (deps: RecordingJobDeps, request: HttpRequest) => Promise<ApiResponse>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    const requestId = requestIdOf({
      [REQUEST_ID_HEADER]: request.headers.get(REQUEST_ID_HEADER) ?? undefined,
    });
    let response: ApiResponse;
    try {
      response = await handle(await getDeps(), request);
    } catch (error) {
      if (error instanceof AppError) response = errorResponse(error);
      else {
        context.error(`recording job request failed: ${describeError(error)}`);
        response = errorResponse(
          new UnavailableError(
            'The service could not complete the request; nothing was started. Retry shortly.',
          ),
        );
      }
    }
    response.headers[REQUEST_ID_HEADER] = requestId;
    return toHttpResponseInit(response);
  };
}

/** `POST /v1/tenants/{tenantId}/recording-jobs` over `getDeps`. */
export function startRecordingJobFunction(getDeps: () => Promise<RecordingJobDeps>) {
  return jobHttpFunction(getDeps, startJob);
}

/** `GET /v1/tenants/{tenantId}/recording-jobs/{jobId}` over `getDeps`. */
export function getRecordingJobFunction(getDeps: () => Promise<RecordingJobDeps>) {
  return jobHttpFunction(getDeps, jobProgress);
}

// --- Queue -----------------------------------------------------------------------------------

/** The `recording-jobs` queue trigger over `getDeps`: a listing page or one blob per message. */
export function recordingJobQueueFunction(
  getDeps: () => Promise<RecordingJobDeps>,
): (queueItem: unknown, context: InvocationContext) => Promise<void> {
  const fallbackLogged = new Set<string>();
  return async (queueItem, context) => {
    const deps = await getDeps();
    const message = messageOf(queueItem);
    const attempt = Number(context.triggerMetadata?.dequeueCount ?? 1);
    if (message.kind === 'list') {
      try {
        await listPage(deps, message);
      } catch (error) {
        const outcome = blobOutcomeOf(error);
        deps.core.logger.warn('recording job listing failed', {
          jobId: message.job.jobId,
          page: message.page,
          attempt,
          error: describeError(error),
        });
        if (outcome.temporary && attempt < MAX_DEQUEUE_COUNT) throw error;
        // The listing ends here: the progress says why instead of "listing" for ever.
        await asTransient('Table storage', () =>
          deps.jobs.upsertEntity(
            {
              partitionKey: partitionOf(message.job.tenantId, message.job.jobId),
              rowKey: pageRow(message.page),
              count: 0,
              last: true,
              code: outcome.code,
            },
            'Replace',
          ),
        );
        if (outcome.temporary) throw error;
      }
      return;
    }
    const { job, blob } = message;
    const stager = new RangeStager(() => {
      // Once per job and worker: the service copies no range, the function moves the media.
      if (fallbackLogged.has(job.jobId)) return;
      fallbackLogged.add(job.jobId);
      deps.core.logger.warn(
        'Put Block From URL is not implemented by this storage service; ranges are copied through the function',
        {
          jobId: job.jobId,
        },
      );
    });
    const started = Date.now();
    const outcome = await blobOutcome(deps, job, blob, stager);
    const line = { jobId: job.jobId, blob, outcome: outcome.code, ms: Date.now() - started, attempt };
    if (outcome.temporary) {
      deps.core.logger.warn('recording job blob will be retried', { ...line, error: outcome.message });
      if (attempt < MAX_DEQUEUE_COUNT) throw new UnavailableError(outcome.message);
    }
    await asTransient('Table storage', () =>
      deps.jobs.upsertEntity(
        {
          partitionKey: partitionOf(job.tenantId, job.jobId),
          rowKey: blobRow(blob),
          blob,
          outcome: outcome.code === 'ok' ? 'ok' : 'failed',
          code: outcome.code,
          message: outcome.message,
        },
        'Replace',
      ),
    );
    deps.core.logger.info('recording job blob', line);
    // The last attempt of a transient failure: recorded above, then the host poisons the message.
    if (outcome.temporary) throw new UnavailableError(outcome.message);
  };
}

function messageOf(item: unknown): JobMessage {
  let value = item;
  if (typeof value === 'string') {
    const text = value.trim();
    value = text.startsWith('{') ? JSON.parse(text) : decodeQueueMessage<unknown>(text);
  }
  const m = value as Partial<JobMessage> | null;
  if (!m || (m.kind !== 'list' && m.kind !== 'blob') || typeof m.job?.jobId !== 'string') {
    throw new Error('The queue message is not a recording job message.');
  }
  return m as JobMessage;
}

async function listPage(deps: RecordingJobDeps, message: Extract<JobMessage, { kind: 'list' }>) {
  const { job } = message;
  if (!deps.blobs) throw new Error('No Blob service is configured (RECCERT_BLOB_ENDPOINT).');
  const container = deps.blobs.getContainerClient(job.container);
  const pages = container.listBlobsFlat({ prefix: job.prefix }).byPage({
    maxPageSize: sizesOf(deps).listPageSize,
    ...(message.marker ? { continuationToken: message.marker } : {}),
  });
  const page = await pages.next();
  const items = page.done ? [] : page.value.segment.blobItems;
  const next = page.done ? undefined : page.value.continuationToken || undefined;
  // The outputs of this very job are not its inputs.
  const names = items
    .map((b) => b.name)
    .filter((n) => job.targetPrefix === undefined || !n.startsWith(job.targetPrefix));
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names
        .slice(i, i + 16)
        .map((blob) =>
          deps.queue.sendMessage(encodeQueueMessage({ kind: 'blob', job, blob } satisfies JobMessage)),
        ),
    );
  }
  await deps.jobs.upsertEntity(
    {
      partitionKey: partitionOf(job.tenantId, job.jobId),
      rowKey: pageRow(message.page),
      count: names.length,
      last: next === undefined,
    },
    'Replace',
  );
  if (next !== undefined) {
    await deps.queue.sendMessage(
      encodeQueueMessage({ kind: 'list', job, page: message.page + 1, marker: next } satisfies JobMessage),
    );
  }
}

/** One blob's outcome: `ok` or a code; `temporary` when a retry may change it. */
interface BlobOutcome {
  code: string;
  message: string;
  temporary: boolean;
}

/** A failure as the progress keeps it (the AWS function's vocabulary). */
export function blobOutcomeOf(error: unknown): BlobOutcome {
  const short = (m: string) => m.replace(/\s+/g, ' ').slice(0, 512);
  if (error instanceof AppError) {
    return { code: error.code, message: short(error.message), temporary: hasKind(error, 'unavailable') };
  }
  const status = statusOf(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (status === 404 || code === 'BlobNotFound' || code === 'ContainerNotFound') {
    return { code: 'NOT_FOUND', message: 'The blob or container does not exist.', temporary: false };
  }
  if (status === 412 || code === 'ConditionNotMet') {
    return {
      code: 'SERVICE_UNAVAILABLE',
      message: 'The blob changed while it was read; the retry reads it anew.',
      temporary: true,
    };
  }
  if (isRetryable(error)) {
    return {
      code: 'SERVICE_UNAVAILABLE',
      message: `Storage failed (${status ?? String(code ?? 'network')}); the queue retries.`,
      temporary: true,
    };
  }
  if (status === 403) {
    return {
      code: 'FORBIDDEN',
      message: "The function's identity may not read or write this blob.",
      temporary: false,
    };
  }
  return { code: 'INTERNAL_ERROR', message: 'The blob could not be processed.', temporary: false };
}

async function blobOutcome(
  deps: RecordingJobDeps,
  job: JobSpec,
  blob: string,
  stager: RangeStager,
): Promise<BlobOutcome> {
  try {
    await processBlob(deps, job, blob, stager);
    return { code: 'ok', message: 'ok', temporary: false };
  } catch (error) {
    const outcome = blobOutcomeOf(error);
    if (codeOf(error) === undefined && !outcome.temporary) {
      deps.core.logger.error('recording job blob failed unexpectedly', {
        jobId: job.jobId,
        error: describeError(error),
      });
    }
    return outcome;
  }
}

/** Rewraps or verifies one blob; throws what went wrong. */
export async function processBlob(
  deps: RecordingJobDeps,
  job: JobSpec,
  blob: string,
  stager: RangeStager,
): Promise<void> {
  if (!deps.blobs) throw new Error('No Blob service is configured (RECCERT_BLOB_ENDPOINT).');
  const sizes = sizesOf(deps);
  const { records, targets } = await deps.tenants.get(
    job.tenantId,
    job.operation === 'rewrap' ? job.to : undefined,
  );
  const container = deps.blobs.getContainerClient(job.container);
  const client = container.getBlobClient(blob);
  const props = await client.getProperties();
  const versionId = props.versionId ?? undefined;
  const source = new PinnedBlob(
    versionId !== undefined ? client.withVersion(versionId) : client,
    props.etag,
    versionId,
    props.contentLength ?? 0,
  );

  const check = openRecordingCheck(deps.core, records, job.operation === 'rewrap');
  try {
    if (job.operation === 'verify') {
      await verifyFrom(source, check.verifier, 0, sizes.readBytes);
      return;
    }
    await rewrapBlob(deps, { container, source, props, check }, targets, job, blob, sizes, stager);
  } finally {
    check.close();
  }
}

interface Source {
  container: ContainerClient;
  source: PinnedBlob;
  props: BlobGetPropertiesResponse;
  check: RecordingCheck;
}

async function rewrapBlob(
  deps: RecordingJobDeps,
  { container, source, props, check }: Source,
  targets: string[],
  job: JobSpec,
  blob: string,
  sizes: JobSizes,
  stager: RangeStager,
): Promise<void> {
  const { firstPart: firstBlock, boundary } = await planRangedRewrap(source, check, {
    to: targets,
    keepRecipients: job.keepRecipients,
    readBytes: sizes.readBytes,
    firstPartBytes: sizes.firstBlockBytes,
  });
  const inPlace = job.targetPrefix === undefined;
  const targetName = (job.targetPrefix ?? '') + blob;
  const plain = container.getBlockBlobClient(targetName);
  const target = deps.blockBlob ? deps.blockBlob(plain) : plain;
  const written = {
    blobHTTPHeaders: {
      blobContentType: props.contentType,
      blobCacheControl: props.cacheControl,
      blobContentDisposition: props.contentDisposition,
      blobContentEncoding: props.contentEncoding,
      blobContentLanguage: props.contentLanguage,
    },
    metadata: props.metadata,
    // In place: only over the version that was read (a blob changed meanwhile fails with 412, retried).
    conditions: inPlace && props.etag ? { ifMatch: props.etag } : {},
  };

  if (boundary >= source.size) {
    check.verifier.end();
    await check.verifier.completed;
    await target.upload(firstBlock, firstBlock.length, written);
    return;
  }

  // Block ids of one attempt share a random stem (equal lengths, as the service requires).
  const stem = crypto.randomBytes(8).toString('hex');
  const blockId = (n: number) => Buffer.from(`${stem}-${String(n).padStart(6, '0')}`).toString('base64');
  await target.stageBlock(blockId(0), firstBlock, firstBlock.length);
  const copyFrom = await deps.copySource(source.client);
  const rest = source.size - boundary;
  const step = Math.max(sizes.copyBlockBytes, Math.ceil(rest / (MAX_BLOCKS - 1)));
  let failure: { error: unknown } | undefined;
  const stopOn = (error: unknown): never => {
    failure ??= { error };
    throw error;
  };
  const copies = async (): Promise<string[]> => {
    const ids = [blockId(0)];
    for (let start = boundary, n = 1; start < source.size && !failure; start += step, n++) {
      const id = blockId(n);
      await stager.stage(target, id, source, copyFrom, start, Math.min(source.size, start + step));
      ids.push(id);
    }
    return ids;
  };
  const [staged] = await Promise.allSettled([
    copies().catch(stopOn),
    verifyFrom(source, check.verifier, boundary, sizes.readBytes, () => failure !== undefined).catch(stopOn),
  ]);
  if (failure) throw failure.error;
  if (staged.status === 'rejected') throw staged.reason;
  if (source.versionId === undefined && !inPlace) {
    // Put Block From URL takes no source condition: the copied ranges are of the blob verified
    // only if it is still the same (in place the commit's If-Match checks that).
    const now = await source.client.getProperties();
    if (now.etag !== props.etag) {
      throw new UnavailableError('The blob changed while it was copied; the retry reads it anew.');
    }
  }
  await target.commitBlockList(staged.value, written);
}

// --- Default handlers ------------------------------------------------------------------------

const defaultDeps = async () => recordingJobDeps(await defaultRuntime());

/** `POST .../recording-jobs` of the default runtime. */
export const handleStartRecordingJob = startRecordingJobFunction(defaultDeps);
/** `GET .../recording-jobs/{jobId}` of the default runtime. */
export const handleGetRecordingJob = getRecordingJobFunction(defaultDeps);
/** The `recording-jobs` queue trigger of the default runtime. */
export const handleRecordingJobMessage = recordingJobQueueFunction(defaultDeps);
