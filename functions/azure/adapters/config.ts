/**
 * Reads the Azure runtime's settings once and builds its adapters. In Azure every client uses the
 * Function App's managed identity (the Bicep sets the endpoint settings read here); against the
 * emulators a storage connection string and a test credential take their place.
 */

import { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { QueueClient } from '@azure/storage-queue';
import type {
  CertificateRepository,
  EventPublisher,
  KeyCustody,
  NotificationSink,
} from '../../../shared/ports';
import { KEY_VAULT_SERVICE_VERSION, KeyVaultCustody } from './key-vault-custody';
import { StorageQueueNotificationSink } from './queue-notification-sink';
import { QUEUE_NAMES, StorageQueuePublisher } from './queue-publisher';
import { TableCertificateRepository, tableClients } from './table-repository';

/** Settings of the Azure adapters (environment variable names in {@link readAzureConfig}). */
export interface AzureAdapterConfig {
  /** `RECCERT_KEY_VAULT_URL`: the vault's URI. */
  keyVaultUrl: string;
  /** `RECCERT_TABLE_ENDPOINT`: e.g. https://<account>.table.core.windows.net/ (identity auth). */
  tableEndpoint?: string;
  /** `RECCERT_QUEUE_ENDPOINT`: e.g. https://<account>.queue.core.windows.net/ (identity auth). */
  queueEndpoint?: string;
  /** `RECCERT_STORAGE_CONNECTION_STRING`: emulators only (Azurite); wins over the endpoints. */
  storageConnectionString?: string;
  /** `RECCERT_TABLE_PREFIX`: letters and digits put before each table name (default none). */
  tablePrefix: string;
  /**
   * `RECCERT_KEY_VAULT_EMULATOR=true`: skip the check that the auth challenge's resource matches
   * the vault's domain (an emulator on 127.0.0.1 is not *.vault.azure.net). TLS stays verified.
   */
  keyVaultEmulator: boolean;
}

/** Reads the settings from `env` (once, at start-up); throws naming what is missing. */
export function readAzureConfig(env: NodeJS.ProcessEnv = process.env): AzureAdapterConfig {
  const keyVaultUrl = env.RECCERT_KEY_VAULT_URL?.trim();
  if (!keyVaultUrl) throw new Error('RECCERT_KEY_VAULT_URL is not set.');
  const storageConnectionString = env.RECCERT_STORAGE_CONNECTION_STRING?.trim() || undefined;
  const tableEndpoint = env.RECCERT_TABLE_ENDPOINT?.trim() || undefined;
  const queueEndpoint = env.RECCERT_QUEUE_ENDPOINT?.trim() || undefined;
  if (storageConnectionString === undefined && (tableEndpoint === undefined || queueEndpoint === undefined)) {
    throw new Error(
      'Set RECCERT_TABLE_ENDPOINT and RECCERT_QUEUE_ENDPOINT (or RECCERT_STORAGE_CONNECTION_STRING).',
    );
  }
  return {
    keyVaultUrl,
    tableEndpoint,
    queueEndpoint,
    storageConnectionString,
    tablePrefix: env.RECCERT_TABLE_PREFIX?.trim() ?? '',
    keyVaultEmulator: env.RECCERT_KEY_VAULT_EMULATOR === 'true',
  };
}

/** The Azure runtime's adapters behind the core's ports. */
export interface AzureAdapters {
  repository: CertificateRepository;
  custody: KeyCustody;
  publisher: EventPublisher;
  notificationSink: NotificationSink;
  /** Raw clients, for start-up provisioning against emulators (tables, queues). */
  tableClient(tableName: string): TableClient;
  queueClient(queueName: string): QueueClient;
}

/**
 * Builds the adapters. `credential` is the managed identity in Azure (e.g. `DefaultAzureCredential`)
 * and a test credential against the emulators; it is used for Key Vault always and for storage
 * unless a connection string is configured.
 */
export function createAzureAdapters(config: AzureAdapterConfig, credential: TokenCredential): AzureAdapters {
  const connection = config.storageConnectionString;
  // Plain http is allowed only for an emulator on the loopback address.
  const insecure =
    connection !== undefined && /TableEndpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(connection);
  const tableClient = (name: string): TableClient =>
    connection !== undefined
      ? TableClient.fromConnectionString(connection, name, { allowInsecureConnection: insecure })
      : new TableClient(config.tableEndpoint!, name, credential);
  const queueClient = (name: string): QueueClient =>
    connection !== undefined
      ? new QueueClient(connection, name)
      : new QueueClient(`${config.queueEndpoint!.replace(/\/+$/, '')}/${name}`, credential);

  const vaultOptions = {
    serviceVersion: KEY_VAULT_SERVICE_VERSION,
    disableChallengeResourceVerification: config.keyVaultEmulator,
  };
  const keys = new KeyClient(config.keyVaultUrl, credential, vaultOptions);
  return {
    repository: new TableCertificateRepository(tableClients(tableClient, config.tablePrefix)),
    custody: new KeyVaultCustody(keys, (keyId) => new CryptographyClient(keyId, credential, vaultOptions), {
      purgeOnRemove: config.keyVaultEmulator,
    }),
    publisher: new StorageQueuePublisher(queueClient),
    notificationSink: new StorageQueueNotificationSink(queueClient(QUEUE_NAMES.expiryNotifications)),
    tableClient,
    queueClient,
  };
}
