import crypto from 'node:crypto';
import { DescribeTableCommand, GetItemCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  DUE_SHARDS,
  DynamoDbCertificateRepository,
  dueShardOf,
} from '../../functions/aws/adapters/dynamodb-repository';
import { createTable } from '../../functions/aws/adapters/dynamodb-schema';
import { UnavailableError } from '../../shared/errors';
import { emptyAssignments } from '../../shared/ports';
import { describeEscrowStoreContract } from '../ports/escrow-store-contract';
import { makeAuditEntry, makeRecord, uniqueTenantId } from '../ports/fixtures';
import { describeRepositoryContract } from '../ports/repository-contract';
import { motoClients } from './clients';
import { failingAt } from './faults';

const clients = motoClients();
const tableName = `reccert-${crypto.randomBytes(4).toString('hex')}`;
let tableReady: Promise<void> | undefined;

/** One table per test file; the contract uses fresh tenant ids, so tests may share it. */
function table(): Promise<void> {
  tableReady ??= createTable(clients.dynamodb, tableName);
  return tableReady;
}

describeRepositoryContract('DynamoDB single table (moto)', async () => {
  await table();
  return {
    repo: new DynamoDbCertificateRepository(clients.dynamodb, { tableName }),
    cleanup: async () => {},
  };
});

describeEscrowStoreContract('DynamoDB single table (moto)', async () => {
  await table();
  return {
    store: new DynamoDbCertificateRepository(clients.dynamodb, { tableName }),
    cleanup: async () => {},
  };
});

describe('DynamoDbCertificateRepository on AWS', () => {
  let repo: DynamoDbCertificateRepository;

  beforeAll(async () => {
    await table();
    repo = new DynamoDbCertificateRepository(clients.dynamodb, { tableName });
  });

  async function rawItem(tenantId: string, sk: string) {
    const out = await clients.dynamodb.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: `TENANT#${tenantId}` }, sk: { S: sk } },
        ConsistentRead: true,
      }),
    );
    return out.Item;
  }

  it('declares the sparse expiry index with keys only', async () => {
    const out = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));

    const index = out.Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === 'due');
    expect(index?.KeySchema).toEqual([
      { AttributeName: 'dueShard', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
    expect(index?.Projection?.ProjectionType).toBe('KEYS_ONLY');
  });

  it('puts a certificate in the expiry index only while its cursor is set', async () => {
    const tenantId = uniqueTenantId();
    const record = makeRecord({ tenantId, nextNotifyAt: '2001-01-01T00:00:00.000Z' });
    await repo.createCertificate(record);
    const indexed = await rawItem(tenantId, `CERT#${record.id}`);

    await repo.advanceExpiryCursor(tenantId, record.id, record.nextNotifyAt, {
      nextNotifyAt: null,
      notifiedThresholdDays: 0,
    });
    const unindexed = await rawItem(tenantId, `CERT#${record.id}`);

    expect(indexed?.dueShard?.S).toBe(dueShardOf(tenantId, record.id));
    expect(indexed?.dueAt?.S).toBe('2001-01-01T00:00:00.000Z');
    expect(unindexed?.dueShard).toBeUndefined();
    expect(unindexed?.dueAt).toBeUndefined();
    const shard = await clients.dynamodb.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'due',
        KeyConditionExpression: 'dueShard = :s',
        FilterExpression: 'pk = :pk',
        ExpressionAttributeValues: {
          ':s': { S: dueShardOf(tenantId, record.id) },
          ':pk': { S: `TENANT#${tenantId}` },
        },
      }),
    );
    expect(shard.Items ?? []).toEqual([]);
  });

  it('spreads certificates over all expiry shards', () => {
    const shards = new Set(Array.from({ length: 400 }, (_, i) => dueShardOf('tenant', `cert-${i}`)));

    expect(shards.size).toBe(DUE_SHARDS);
  });

  it('keeps the assignment state and its version in one item', async () => {
    const tenantId = uniqueTenantId();
    const state = {
      profiles: {
        record: {
          id: 'record',
          activeCertificateId: 'c1',
          previousCertificateIds: [],
          updatedAt: '2026-01-01T00:00:00Z',
        },
      },
      screen: { certificateIds: ['c1'], everIncluded: ['c1'], updatedAt: '2026-01-01T00:00:00Z' },
      appliedRequestIds: ['r1'],
      pending: [],
    };

    await repo.saveAssignments(tenantId, state, undefined);

    const item = await rawItem(tenantId, 'ASSIGN');
    expect(item?.version?.S).toBe('1');
    expect(JSON.parse(item?.stateJson?.S ?? '{}').screen.certificateIds).toEqual(['c1']);
  });

  it('still reads an assignment state stored as a map by earlier versions', async () => {
    const tenantId = uniqueTenantId();
    const profile = { id: 'record', activeCertificateId: 'c1', previousCertificateIds: [], updatedAt: 'x' };
    await clients.dynamodb.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: `TENANT#${tenantId}` },
          sk: { S: 'ASSIGN' },
          state: {
            M: marshall({
              profiles: { record: profile },
              screen: { certificateIds: [], everIncluded: [], updatedAt: null },
              appliedRequestIds: ['r1'],
            }),
          },
          version: { S: '7' },
        },
      }),
    );

    const { state, version } = await repo.getAssignments(tenantId);

    expect(version).toBe('7');
    expect(state.profiles.record).toEqual(profile);
    expect(state.pending).toEqual([]);
    expect(state.appliedRequestIds).toEqual(['r1']);
  });

  it('takes an audit entry back when its certificate copy cannot be written', async () => {
    const tenantId = uniqueTenantId();
    const faulty = new DynamoDbCertificateRepository(
      failingAt(clients.dynamodb, 'PutItemCommand', { after: 1, times: 1 }),
      { tableName },
    );

    await expect(faulty.appendAudit(makeAuditEntry({ tenantId, certificateId: 'cert-a' }))).rejects.toThrow();

    expect(await repo.pageAudit(tenantId, { limit: 10 })).toEqual({ items: [] });
    expect(await repo.pageAudit(tenantId, { limit: 10, certificateId: 'cert-a' })).toEqual({ items: [] });
  });

  it('reports DynamoDB throttling as UnavailableError and writes nothing', async () => {
    const tenantId = uniqueTenantId();
    const faulty = new DynamoDbCertificateRepository(failingAt(clients.dynamodb, 'PutItemCommand'), {
      tableName,
    });
    const record = makeRecord({ tenantId });

    await expect(faulty.createCertificate(record)).rejects.toBeInstanceOf(UnavailableError);

    expect(await repo.getCertificate(tenantId, record.id)).toBeUndefined();
  });

  it('reports a throttled delete transaction as UnavailableError and keeps both items', async () => {
    const tenantId = uniqueTenantId();
    const record = makeRecord({ tenantId });
    await repo.createCertificate(record);
    await repo.saveAssignments(
      tenantId,
      {
        profiles: emptyAssignments().profiles,
        screen: { certificateIds: [], everIncluded: [], updatedAt: null },
        appliedRequestIds: [],
        pending: [],
      },
      undefined,
    );
    const { version } = await repo.getAssignments(tenantId);
    const faulty = new DynamoDbCertificateRepository(
      failingAt(clients.dynamodb, 'TransactWriteItemsCommand'),
      {
        tableName,
      },
    );

    await expect(
      faulty.saveAssignments(
        tenantId,
        {
          profiles: emptyAssignments().profiles,
          screen: { certificateIds: [], everIncluded: [], updatedAt: '2026-01-01T00:00:00Z' },
          appliedRequestIds: [],
          pending: [],
        },
        version,
        {
          deleteCertificateId: record.id,
        },
      ),
    ).rejects.toBeInstanceOf(UnavailableError);

    expect(await repo.getCertificate(tenantId, record.id)).toEqual(record);
    expect((await repo.getAssignments(tenantId)).version).toBe(version);
  });

  it('retries the keys a consistent batch read left unprocessed', async () => {
    const tenantId = uniqueTenantId();
    const record = makeRecord({ tenantId, nextNotifyAt: '1970-01-02T00:00:00.000Z' });
    await repo.createCertificate(record);
    let first = true;
    const partial = Object.assign(Object.create(clients.dynamodb), {
      send: async (command: {
        constructor: { name: string };
        input: { RequestItems?: Record<string, { Keys: unknown[] }> };
      }) => {
        // Partial failure: the first BatchGetItem answers nothing and hands every key back.
        if (command.constructor.name === 'BatchGetItemCommand' && first) {
          first = false;
          return { Responses: {}, UnprocessedKeys: command.input.RequestItems };
        }
        return clients.dynamodb.send(command as never);
      },
    });
    const flaky = new DynamoDbCertificateRepository(partial, { tableName });

    const found = [];
    for await (const page of flaky.findDueForNotification('1970-01-03T00:00:00.000Z', 50))
      found.push(...page);

    expect(first).toBe(false);
    expect(found.filter((r) => r.tenantId === tenantId)).toEqual([record]);
  });
});
