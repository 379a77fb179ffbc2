import crypto from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { decodeQueueMessage, QUEUE_NAMES } from '../../functions/azure/adapters/queue-publisher';
import { ensureTables } from '../../functions/azure/adapters/table-repository';
import { buildRuntime, readRuntimeConfig } from '../../functions/azure/runtime';
import type { DomainEvent } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import { makeRecord, uniqueTenantId } from '../ports/fixtures';
import { storageConnectionString } from './clients';

const credential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({
    token: 'test-only',
    expiresOnTimestamp: Date.now() + 3_600_000,
  }),
};

/** App Service authentication: the auth mode that needs no further settings. */
const AUTH = { RECCERT_AUTH_MODE: 'appservice' };

describe('readRuntimeConfig', () => {
  it('reads the identity-based settings the Bicep writes', () => {
    const config = readRuntimeConfig({
      ...AUTH,
      RECCERT_KEY_VAULT_URL: 'https://kv-reccert.vault.azure.net/',
      RECCERT_TABLE_ENDPOINT: 'https://streccert.table.core.windows.net/',
      RECCERT_QUEUE_ENDPOINT: 'https://streccert.queue.core.windows.net/',
      RECCERT_BLOB_ENDPOINT: 'https://acmerecordings.blob.core.windows.net/',
      RECCERT_RECORDING_CONTAINERS: 'acme:acme-recordings, shared ',
    });

    expect(config.custody).toEqual({
      kind: 'keyvault',
      keyVaultUrl: 'https://kv-reccert.vault.azure.net/',
      keyVaultEmulator: false,
    });
    expect(config.storage).toEqual({
      tableEndpoint: 'https://streccert.table.core.windows.net/',
      queueEndpoint: 'https://streccert.queue.core.windows.net/',
      connectionString: undefined,
      tablePrefix: '',
      blobEndpoint: 'https://acmerecordings.blob.core.windows.net/',
      recordingContainers: ['acme:acme-recordings', 'shared'],
    });
  });

  it('names what is missing', () => {
    const storage = {
      RECCERT_TABLE_ENDPOINT: 'https://streccert.table.core.windows.net/',
      RECCERT_QUEUE_ENDPOINT: 'https://streccert.queue.core.windows.net/',
    };
    expect(() => readRuntimeConfig({ ...AUTH, ...storage })).toThrow('RECCERT_KEY_VAULT_URL');
    expect(() =>
      readRuntimeConfig({ ...AUTH, RECCERT_KEY_VAULT_URL: 'https://kv.vault.azure.net/' }),
    ).toThrow('RECCERT_TABLE_ENDPOINT');
  });
});

describe('buildRuntime against Azurite', () => {
  it('builds a repository and a publisher that reach the emulator', async () => {
    const prefix = `c${crypto.randomBytes(4).toString('hex')}`;
    const runtime = await buildRuntime(
      readRuntimeConfig({
        ...AUTH,
        RECCERT_KEY_VAULT_URL: 'https://reccert-test.vault.invalid',
        RECCERT_STORAGE_CONNECTION_STRING: storageConnectionString(),
        RECCERT_TABLE_PREFIX: prefix,
      }),
      { credential, logger: jsonLogger('silent') },
    );
    const { tables } = runtime;
    const adapters = { repository: runtime.deps.repo, publisher: runtime.deps.events };
    await ensureTables(tables);
    const queue = runtime.queueClient(QUEUE_NAMES.ivrAssignments);
    await queue.createIfNotExists();
    try {
      const record = makeRecord({ tenantId: uniqueTenantId('cfg') });
      const event: DomainEvent = {
        id: crypto.randomUUID(),
        type: 'IvrAssignmentRequested',
        tenantId: record.tenantId,
        occurredAt: '2026-01-01T00:00:00.000Z',
        data: {},
      };

      await adapters.repository.createCertificate(record);
      await adapters.publisher.publish([event]);

      expect(await adapters.repository.getCertificate(record.tenantId, record.id)).toEqual(record);
      const received = await queue.receiveMessages({ numberOfMessages: 32 });
      expect(
        received.receivedMessageItems.map((m) => decodeQueueMessage<DomainEvent>(m.messageText).id),
      ).toContain(event.id);
    } finally {
      await Promise.all(Object.values(tables).map((t) => t.deleteTable()));
      await queue.deleteIfExists();
    }
  });
});
