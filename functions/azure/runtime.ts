/**
 * What every reccert Azure function shares: the settings read once per worker start, the core's
 * deps built over the Azure adapters, and the translation between the Functions v4 programming
 * model (`HttpRequest` / `HttpResponseInit`) and the runtime-neutral ApiRequest / ApiResponse.
 *
 * Key custody is Key Vault (`RECCERT_KEY_VAULT_URL`). `RECCERT_KEY_CUSTODY=file` puts the local
 * runtime's encrypted file keystore in its place: a development-only switch that
 * `npm run start:azure` sets when no vault is configured, because no Key Vault emulator (Lowkey
 * Vault) can be installed on the machines this project is built on. A deployment never sets it,
 * and without a vault URL or that switch the functions refuse to start.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { TableClient } from '@azure/data-tables';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { QueueClient } from '@azure/storage-queue';
import { DEFAULT_THRESHOLDS_DAYS } from '../../shared/domain/expiry';
import { AppError, UnavailableError } from '../../shared/errors';
import { MAX_BODY_BYTES, readLimited } from '../../shared/http/body';
import {
  type ApiRequest,
  type ApiResponse,
  createApiHandler,
  errorResponse,
} from '../../shared/http/handler';
import { buildOpenApiDocument } from '../../shared/http/openapi';
import { routes } from '../../shared/http/routes';
import { jsonLogger, type LogLevel } from '../../shared/logging';
import type {
  CertificateRepository,
  EventPublisher,
  KeyCustody,
  Logger,
  NotificationSink,
} from '../../shared/ports';
import type { CoreDeps } from '../../shared/usecases/deps';
import { FileKeystore, loadOrCreateMasterKey } from '../local/file-keystore';
import { type AzureAdapterConfig, createAzureAdapters, readAzureConfig } from './adapters/config';
import { StorageQueueNotificationSink } from './adapters/queue-notification-sink';
import { QUEUE_NAMES, StorageQueuePublisher } from './adapters/queue-publisher';
import {
  TableCertificateRepository,
  type TableRepositoryClients,
  tableClients,
} from './adapters/table-repository';
import { type AzureAuthConfig, createAuthenticator, readAuthConfig } from './auth';

/** The service version (bundled from package.json at build time). */
export const VERSION: string = (require('../../package.json') as { version: string }).version;

/** Where private keys are kept. */
export type CustodyConfig =
  | { kind: 'keyvault'; adapters: AzureAdapterConfig }
  | { kind: 'file'; dataDir: string; masterKey?: string };

/** Where metadata and events are kept (Table and Queue storage). */
export interface StorageConfig {
  /** Emulators only (Azurite); wins over the endpoints. */
  connectionString?: string;
  tableEndpoint?: string;
  queueEndpoint?: string;
  tablePrefix: string;
}

/** Everything the Azure functions read from their environment, once. */
export interface AzureRuntimeConfig {
  auth: AzureAuthConfig;
  custody: CustodyConfig;
  storage: StorageConfig;
  expiryThresholdsDays: number[];
  logLevel: LogLevel;
}

function thresholdsFrom(env: NodeJS.ProcessEnv): number[] {
  const raw = env.RECCERT_EXPIRY_THRESHOLDS;
  if (raw === undefined || raw.trim() === '') return [...DEFAULT_THRESHOLDS_DAYS];
  const days = raw.split(',').map((s) => Number(s.trim()));
  if (days.some((d) => !Number.isInteger(d) || d <= 0 || d > 3650)) {
    throw new Error('RECCERT_EXPIRY_THRESHOLDS must be comma-separated whole days, e.g. 90,30,7.');
  }
  return days;
}

/** Reads the settings (names in docs/azure.md); throws naming what is missing or wrong. */
export function readRuntimeConfig(env: NodeJS.ProcessEnv = process.env): AzureRuntimeConfig {
  const flow = env.RECCERT_FLOW?.trim();
  // The Azure deployment plays the Azure-hosted upload flow (DESIGN section 2), nothing else.
  if (flow && flow !== 'azure')
    throw new Error(`The Azure runtime plays the azure flow only (RECCERT_FLOW=${flow}).`);
  const storage: StorageConfig = {
    connectionString: env.RECCERT_STORAGE_CONNECTION_STRING?.trim() || undefined,
    tableEndpoint: env.RECCERT_TABLE_ENDPOINT?.trim() || undefined,
    queueEndpoint: env.RECCERT_QUEUE_ENDPOINT?.trim() || undefined,
    tablePrefix: env.RECCERT_TABLE_PREFIX?.trim() ?? '',
  };
  if (!storage.connectionString && (!storage.tableEndpoint || !storage.queueEndpoint)) {
    throw new Error(
      'Set RECCERT_TABLE_ENDPOINT and RECCERT_QUEUE_ENDPOINT (or RECCERT_STORAGE_CONNECTION_STRING).',
    );
  }
  let custody: CustodyConfig;
  if (env.RECCERT_KEY_VAULT_URL?.trim()) {
    custody = { kind: 'keyvault', adapters: readAzureConfig(env) };
  } else if (env.RECCERT_KEY_CUSTODY === 'file') {
    const dataDir = env.DATA_DIR?.trim();
    if (!dataDir) throw new Error('RECCERT_KEY_CUSTODY=file needs DATA_DIR.');
    custody = {
      kind: 'file',
      dataDir,
      ...(env.RECCERT_MASTER_KEY ? { masterKey: env.RECCERT_MASTER_KEY } : {}),
    };
  } else {
    throw new Error('RECCERT_KEY_VAULT_URL is not set.');
  }
  return {
    auth: readAuthConfig(env),
    custody,
    storage,
    expiryThresholdsDays: thresholdsFrom(env),
    logLevel: (env.LOG_LEVEL as LogLevel | undefined) ?? 'info',
  };
}

/** The built runtime: the core's deps, the API handler and the storage clients behind them. */
export interface AzureRuntime {
  config: AzureRuntimeConfig;
  deps: CoreDeps;
  api(request: ApiRequest): Promise<ApiResponse>;
  tables: TableRepositoryClients;
  queueClient(queueName: string): QueueClient;
}

/** Replacements for single ports (tests inject failures through them). */
export interface RuntimeOverrides {
  repo?: CertificateRepository;
  custody?: KeyCustody;
  events?: EventPublisher;
  notificationSink?: NotificationSink;
  logger?: Logger;
  /** Wraps the storage clients as they are made (failure injection). */
  wrapTableClient?: (client: TableClient) => TableClient;
  credential?: TokenCredential;
}

/** Builds the runtime for `config`. Nothing is called over the network here. */
export async function buildRuntime(
  config: AzureRuntimeConfig,
  overrides: RuntimeOverrides = {},
): Promise<AzureRuntime> {
  const logger = overrides.logger ?? jsonLogger(config.logLevel, undefined, { runtime: 'azure' });
  const { storage } = config;
  // Identity-based access (the Function App's managed identity) unless a connection string is given.
  let credential = overrides.credential;
  const identity = (): TokenCredential => {
    credential ??= new DefaultAzureCredential();
    return credential;
  };
  const connection = storage.connectionString;
  // Plain http only for an emulator on the loopback address.
  const insecure =
    connection !== undefined && /TableEndpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(connection);
  const wrap = overrides.wrapTableClient ?? ((c: TableClient) => c);
  const tableClient = (name: string): TableClient =>
    wrap(
      connection !== undefined
        ? TableClient.fromConnectionString(connection, name, { allowInsecureConnection: insecure })
        : new TableClient(storage.tableEndpoint!, name, identity()),
    );
  const queueClient = (name: string): QueueClient =>
    connection !== undefined
      ? new QueueClient(connection, name)
      : new QueueClient(`${storage.queueEndpoint!.replace(/\/+$/, '')}/${name}`, identity());
  const tables = tableClients(tableClient, storage.tablePrefix);

  let custody = overrides.custody;
  if (!custody) {
    if (config.custody.kind === 'keyvault') {
      custody = createAzureAdapters(config.custody.adapters, identity()).custody;
    } else {
      const masterKey = await loadOrCreateMasterKey(config.custody.dataDir, config.custody.masterKey);
      custody = new FileKeystore(config.custody.dataDir, masterKey);
      masterKey.fill(0);
    }
  }

  const deps: CoreDeps = {
    repo: overrides.repo ?? new TableCertificateRepository(tables),
    custody,
    events: overrides.events ?? new StorageQueuePublisher(queueClient),
    clock: { now: () => new Date() },
    ids: { newId: randomUUID },
    logger,
    config: { flow: 'azure', expiryThresholdsDays: config.expiryThresholdsDays, defaultIvrProfile: 'record' },
    notificationSink:
      overrides.notificationSink ??
      new StorageQueueNotificationSink(queueClient(QUEUE_NAMES.expiryNotifications)),
  };
  let openApi: unknown;
  const handle = createApiHandler({
    deps,
    authenticate: createAuthenticator(config.auth),
    version: VERSION,
    maxBufferedResponseBytes: MAX_PLAYBACK_BYTES,
    openApiDocument: () => {
      openApi ??= buildOpenApiDocument(VERSION);
      return openApi;
    },
  });
  const api = handle;
  return { config, deps, api, tables, queueClient };
}

/**
 * Most plaintext one playback returns here: the response is buffered in the worker (HTTP streams
 * are off), so this bounds its memory: half an hour of 8 kHz 16-bit stereo WAV, hours of compressed audio.
 */
const MAX_PLAYBACK_BYTES = 64 * 1024 * 1024;

/** Builds `make()` once, on first use: a cold start pays for it, warm invocations reuse it. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= make().catch((error: unknown) => {
      // A failed start (e.g. a missing setting) is not cached: the next invocation tries again.
      value = undefined;
      throw error;
    });
    return value;
  };
}

/** The runtime of this worker, from `process.env`, built on first use. */
export const defaultRuntime = once(() => buildRuntime(readRuntimeConfig(process.env)));

const STREAMING_ROUTES = routes
  .filter((r) => r.streamBody)
  .map((r) => ({
    method: r.method,
    pattern: new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}/?$`),
  }));

/** Whether the request goes to a route whose body is a stream of any size (decrypt). */
function isStreamingRoute(method: string, path: string): boolean {
  return STREAMING_ROUTES.some((r) => r.method === method && r.pattern.test(path));
}

/**
 * HttpRequest -> ApiRequest. Bodies travel as bytes, read with the 64 KiB limit of the API
 * (a larger one is refused with 413 before it is read further), except the recording route's,
 * which the core reads as a stream.
 */
export async function toApiRequest(request: HttpRequest): Promise<ApiRequest> {
  const url = new URL(request.url);
  const method = request.method.toUpperCase();
  const headers: Record<string, string | undefined> = {};
  request.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  const query: Record<string, string | undefined> = {};
  // The first of repeated parameters wins, as on the other runtimes.
  for (const [name, value] of request.query) query[name] ??= value;
  // The path stays percent-encoded, as on the other runtimes; the core decodes the parameters.
  const base: ApiRequest = { method, path: url.pathname, query, headers };
  if (request.body === null) return base;
  const stream = Readable.fromWeb(request.body as WebReadableStream<Uint8Array>);
  if (isStreamingRoute(method, base.path)) return { ...base, bodyStream: stream };
  return { ...base, body: await readLimited(stream, headers, MAX_BODY_BYTES) };
}

/** ApiResponse -> HttpResponseInit (bodies as bytes or text, headers as they are). */
export function toHttpResponseInit(response: ApiResponse): HttpResponseInit {
  return {
    status: response.status,
    headers: response.headers,
    body: typeof response.body === 'string' ? response.body : new Uint8Array(response.body),
  };
}

/** Error text for logs: name and message only (never request bodies or key material). */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * The HTTP function over a runtime: translate, dispatch through the shared handler, translate
 * back. A runtime that cannot be built (a missing setting) answers 503 and logs why.
 */
export function httpFunction(
  getRuntime: () => Promise<AzureRuntime>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    let runtime: AzureRuntime;
    try {
      runtime = await getRuntime();
    } catch (error) {
      context.error(`reccert could not start: ${describeError(error)}`);
      return toHttpResponseInit(
        errorResponse(new UnavailableError('The service is starting or not configured; retry shortly.')),
      );
    }
    let apiRequest: ApiRequest;
    try {
      apiRequest = await toApiRequest(request);
    } catch (error) {
      if (error instanceof AppError) return toHttpResponseInit(errorResponse(error));
      throw error;
    }
    return toHttpResponseInit(await runtime.api(apiRequest));
  };
}
