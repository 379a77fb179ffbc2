/** Clients for the emulators the azure global setup started (endpoints come through env vars). */
import crypto from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import {
  ensureTables,
  type TableRepositoryClients,
  tableClients,
} from '../../functions/azure/adapters/table-repository';
import { AZURE_ENV } from './emulators';

/** Azurite's connection string, set by global-setup.ts. */
export function storageConnectionString(): string {
  const value = process.env[AZURE_ENV.storageConnectionString];
  if (!value)
    throw new Error(`${AZURE_ENV.storageConnectionString} is not set: run through the azure jest project.`);
  return value;
}

/** A table client on Azurite (plain http is allowed only for the emulator). */
export function azuriteTable(tableName: string): TableClient {
  return TableClient.fromConnectionString(storageConnectionString(), tableName, {
    allowInsecureConnection: true,
  });
}

/** A queue client on Azurite. */
export function azuriteQueue(queueName: string): QueueClient {
  return new QueueClient(storageConnectionString(), queueName);
}

/** Four fresh tables under a random prefix, created; `drop()` deletes them. */
export async function freshTables(): Promise<{ tables: TableRepositoryClients; drop(): Promise<void> }> {
  const prefix = `t${crypto.randomBytes(5).toString('hex')}`;
  const tables = tableClients(azuriteTable, prefix);
  await ensureTables(tables);
  return {
    tables,
    drop: async () => {
      await Promise.all(Object.values(tables).map((t) => t.deleteTable()));
    },
  };
}

/** A queue name unique to one test (3-63 lower-case letters, digits and dashes). */
export function uniqueQueueName(base: string): string {
  return `${base}-${crypto.randomBytes(4).toString('hex')}`;
}
