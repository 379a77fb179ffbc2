/**
 * The Azure runtime's one composition root: the settings read once per worker start (names in
 * docs/azure.md; validated here and nowhere else), the storage and Key Vault clients, and the
 * core's deps over the Azure adapters. Every function of the app (./handlers) runs over the
 * runtime built here. In Azure every client uses the Function App's managed identity (the Bicep
 * sets the endpoint settings read here); against the emulators a storage connection string and
 * a test credential take their place.
 *
 * Key custody is Key Vault (`RECCERT_KEY_VAULT_URL`). `RECCERT_KEY_CUSTODY=file` asks for the
 * encrypted file keystore instead: a development-only switch that `npm run start:azure` sets when
 * no vault is configured, because no Key Vault emulator (Lowkey Vault) can be installed on the
 * machines this project is built on. The dev server builds that keystore itself and hands it in
 * ({@link provideDefaultOverrides}), so nothing here imports another runtime. A deployment never
 * sets the switch, and without a vault URL or that switch the functions refuse to start.
 */
import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { parseExpiryThresholds } from '../../shared/domain/expiry';
import {
  type ApiRequest,
  type ApiResponse,
  type Authenticator,
  createApiHandler,
} from '../../shared/http/api-handler';
import { buildOpenApiDocument } from '../../shared/http/openapi';
import { routes } from '../../shared/http/routes';
import { jsonLogger, type LogLevel } from '../../shared/logging';
import type {
  CertificateRepository,
  EscrowStore,
  EventPublisher,
  KeyCustody,
  Logger,
  NotificationSink,
} from '../../shared/ports';
import type { CoreDeps } from '../../shared/usecases/deps';
import { readCorsOrigins } from '../common/http-server';
import { onceOrRetry } from '../common/once';
import { VERSION } from '../common/version';
import { KEY_VAULT_SERVICE_VERSION, KeyVaultCustody } from './adapters/key-vault-custody';
import { StorageQueueNotificationSink } from './adapters/queue-notification-sink';
import { QUEUE_NAMES, StorageQueuePublisher } from './adapters/queue-publisher';
import {
  TableCertificateRepository,
  type TableRepositoryClients,
  tableClients,
} from './adapters/table-repository';
import { type AzureAuthConfig, createAuthenticator, readAuthConfig } from './auth';

/** Where private keys are kept. */
export type CustodyConfig =
  | {
      kind: 'keyvault';
      /** `RECCERT_KEY_VAULT_URL`: the vault's URI. */
      keyVaultUrl: string;
      /**
       * `RECCERT_KEY_VAULT_EMULATOR=true`: skip the check that the auth challenge's resource matches
       * the vault's domain (an emulator on 127.0.0.1 is not *.vault.azure.net). TLS stays verified.
       */
      keyVaultEmulator: boolean;
    }
  /** `RECCERT_KEY_CUSTODY=file` (development only): the dev server provides the keystore. */
  | { kind: 'file' };

/** Where metadata and events are kept (Table and Queue storage). */
export interface StorageConfig {
  /** `RECCERT_STORAGE_CONNECTION_STRING`: emulators only (Azurite); wins over the endpoints. */
  connectionString?: string;
  /** `RECCERT_TABLE_ENDPOINT`: e.g. https://<account>.table.core.windows.net/ (identity auth). */
  tableEndpoint?: string;
  /** `RECCERT_QUEUE_ENDPOINT`: e.g. https://<account>.queue.core.windows.net/ (identity auth). */
  queueEndpoint?: string;
  /** `RECCERT_TABLE_PREFIX`: letters and digits put before each table name (default none). */
  tablePrefix: string;
  /** `RECCERT_BLOB_ENDPOINT`: the recordings' storage account, for recording jobs (identity auth). */
  blobEndpoint?: string;
  /** `RECCERT_RECORDING_CONTAINERS`: the containers recording jobs may read and write (comma-separated). */
  recordingContainers: readonly string[];
}

/** Everything the Azure functions read from their environment, once. */
export interface AzureRuntimeConfig {
  auth: AzureAuthConfig;
  custody: CustodyConfig;
  storage: StorageConfig;
  expiryThresholdsDays: number[];
  logLevel: LogLevel;
  /**
   * `RECCERT_CORS_ORIGINS`, the list the Bicep also gives the Function App's CORS setting: the host
   * answers preflights and adds `Access-Control-Allow-Origin`, but has no setting for exposed
   * headers, so the app adds `Access-Control-Expose-Headers` for these origins itself.
   */
  corsOrigins: readonly string[];
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
    blobEndpoint: env.RECCERT_BLOB_ENDPOINT?.trim() || undefined,
    recordingContainers: (env.RECCERT_RECORDING_CONTAINERS ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== ''),
  };
  if (!storage.connectionString && (!storage.tableEndpoint || !storage.queueEndpoint)) {
    throw new Error(
      'Set RECCERT_TABLE_ENDPOINT and RECCERT_QUEUE_ENDPOINT (or RECCERT_STORAGE_CONNECTION_STRING).',
    );
  }
  let custody: CustodyConfig;
  const keyVaultUrl = env.RECCERT_KEY_VAULT_URL?.trim();
  if (keyVaultUrl) {
    custody = { kind: 'keyvault', keyVaultUrl, keyVaultEmulator: env.RECCERT_KEY_VAULT_EMULATOR === 'true' };
  } else if (env.RECCERT_KEY_CUSTODY === 'file') {
    custody = { kind: 'file' };
  } else {
    throw new Error('RECCERT_KEY_VAULT_URL is not set.');
  }
  return {
    auth: readAuthConfig(env),
    custody,
    storage,
    expiryThresholdsDays: parseExpiryThresholds(env.RECCERT_EXPIRY_THRESHOLDS),
    logLevel: (env.LOG_LEVEL as LogLevel | undefined) ?? 'info',
    corsOrigins: readCorsOrigins(env),
  };
}

/** The built runtime: the core's deps, the API handler and the storage clients behind them. */
export interface AzureRuntime {
  config: AzureRuntimeConfig;
  deps: CoreDeps;
  api(request: ApiRequest): Promise<ApiResponse>;
  tables: TableRepositoryClients;
  queueClient(queueName: string): QueueClient;
  tableClient(tableName: string): TableClient;
  /** The recordings' Blob service (recording jobs), when an endpoint or connection string is set. */
  blobService: BlobServiceClient | undefined;
  /** The managed identity (undefined with a connection string): recording jobs authorize copies with it. */
  tokenCredential: TokenCredential | undefined;
  /** The API's authenticator, for the HTTP functions outside the route table (recording jobs). */
  authenticate: Authenticator;
}

/** Replacements for single ports (tests inject failures through them; the dev server provides the file keystore). */
export interface RuntimeOverrides {
  repo?: CertificateRepository;
  escrow?: EscrowStore;
  custody?: KeyCustody;
  events?: EventPublisher;
  notificationSink?: NotificationSink;
  logger?: Logger;
  /** Wraps the storage clients as they are made (failure injection). */
  wrapTableClient?: (client: TableClient) => TableClient;
  credential?: TokenCredential;
}

/**
 * Builds the runtime for `config`: every client and adapter of the app is made here, and nothing
 * is called over the network.
 */
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
  const blobService =
    connection !== undefined
      ? BlobServiceClient.fromConnectionString(connection)
      : storage.blobEndpoint !== undefined
        ? new BlobServiceClient(storage.blobEndpoint, identity())
        : undefined;

  let custody = overrides.custody;
  if (!custody) {
    if (config.custody.kind === 'file') {
      throw new Error(
        'RECCERT_KEY_CUSTODY=file is for the dev server (npm run start:azure), which provides the keystore; set RECCERT_KEY_VAULT_URL.',
      );
    }
    const vaultOptions = {
      serviceVersion: KEY_VAULT_SERVICE_VERSION,
      disableChallengeResourceVerification: config.custody.keyVaultEmulator,
    };
    const vault = identity();
    custody = new KeyVaultCustody(
      new KeyClient(config.custody.keyVaultUrl, vault, vaultOptions),
      (keyId) => new CryptographyClient(keyId, vault, vaultOptions),
      { purgeOnRemove: config.custody.keyVaultEmulator },
    );
  }

  const repo = overrides.repo ?? new TableCertificateRepository(tables);
  const escrow = overrides.escrow ?? (repo instanceof TableCertificateRepository ? repo : undefined);
  const deps: CoreDeps = {
    repo,
    ...(escrow ? { escrow } : {}),
    custody: keysNeverLeave(custody),
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
  const authenticate = createAuthenticator(config.auth);
  const api = createApiHandler({
    deps,
    routes,
    authenticate,
    version: VERSION,
    maxBufferedResponseBytes: MAX_PLAYBACK_BYTES,
    openApiDocument: () => {
      openApi ??= buildOpenApiDocument(VERSION);
      return openApi;
    },
  });
  return {
    config,
    deps,
    api,
    tables,
    queueClient,
    tableClient,
    blobService,
    tokenCredential: connection === undefined ? identity() : undefined,
    authenticate,
  };
}

/**
 * On Azure keys live in Key Vault as non-exportable, so the core never gets one back (escrow is
 * made at upload, before the import). The dev host's stand-in keystore plays that part in full.
 */
function keysNeverLeave(custody: KeyCustody): KeyCustody {
  return {
    store: (ref, pkcs8Der, certificatePem) => custody.store(ref, pkcs8Der, certificatePem),
    remove: (ref, keyRef) => custody.remove(ref, keyRef),
    unwrapKey: (ref, keyRef, wrappedKey) => custody.unwrapKey(ref, keyRef, wrappedKey),
    listKeys: () => custody.listKeys(),
  };
}

/**
 * Most plaintext one playback returns here: the response is buffered in the worker (HTTP streams
 * are off), so this bounds its memory: half an hour of 8 kHz 16-bit stereo WAV, hours of compressed audio.
 */
const MAX_PLAYBACK_BYTES = 64 * 1024 * 1024;

let defaultOverrides: RuntimeOverrides = {};

/**
 * Ports the default runtime takes from its host rather than building them: the dev server
 * (scripts/start-azure.ts) provides the file keystore for `RECCERT_KEY_CUSTODY=file`. Call before
 * the first invocation; a deployment never calls it.
 */
export function provideDefaultOverrides(overrides: RuntimeOverrides): void {
  defaultOverrides = overrides;
}

/** The runtime of this worker, from `process.env`, built on first use (a failed start is retried). */
export const defaultRuntime = onceOrRetry(() =>
  buildRuntime(readRuntimeConfig(process.env), defaultOverrides),
);
