/**
 * `CertificateRepository` on one DynamoDB table (single-table design).
 *
 * Items (pk / sk):
 * - `TENANT#<t>` / `CERT#<id>`: a certificate. The record (without the expiry cursor) is the map
 *   `rec`; the cursor is in `nextNotifyAt` / `notifiedThresholdDays` so it can be compared and set
 *   alone. While the cursor is not null the item also carries `dueShard` (`DUE#<0..15>`) and
 *   `dueAt` (= nextNotifyAt): the keys of the sparse GSI `due`, so the expiry scan queries only
 *   certificates that are due. Sharding spreads the index over 16 partitions instead of one hot key.
 * - `TENANT#<t>` / `ASSIGN`: the tenant's assignment state (JSON text `stateJson`; older items
 *   hold the map `state`) and its `version`.
 * - `TENANT#<t>` / `NOTIF#<cert>#<threshold>`: one notification; the key itself makes it unique.
 * - `TENANT#<t>` / `AUDIT#<at>#<stamp>#<id>`: one audit entry, so a reverse query is newest first.
 * - `TENANT#<t>` / `ESCROW`: the tenant's escrow certificate (map `escrow`).
 * - `TENANT#<t>` / `ESCROWKEY#<certificate>`: a key's escrow copy (CMS bytes in `cms`).
 * - `AUDITCERT#<t>#<certificate>` / the same sort key: a copy of each audit entry that names a
 *   certificate, so the audit filter by certificate is one strongly
 *   consistent partition query (a GSI would be eventually consistent, against rule 12). When the
 *   copy cannot be written the entry is taken back and the append fails: both or neither.
 *
 * Lists are paged by the store: `ExclusiveStartKey` built from the path's tenant and the sort key
 * of the last item shown, so a position can never reach into another tenant's partition.
 *
 * Every read of the base table is strongly consistent (DESIGN rule 12). The GSI is eventually
 * consistent, so it only yields keys; the records are then read consistently from the base table.
 */
import { createHash } from 'node:crypto';
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { assignmentsFromStored } from '../../../shared/domain/assignments';
import {
  type ExpiryCursor,
  joinExpiryCursor,
  type RecordWithoutCursor,
  splitExpiryCursor,
} from '../../../shared/domain/expiry-cursor';
import { activeInFromStored } from '../../../shared/domain/expiry-notice';
import type {
  AuditEntry,
  CertificateRecord,
  EscrowCertificate,
  EscrowCopy,
  ExpiryNotification,
  TenantAssignments,
  VersionedAssignments,
} from '../../../shared/domain/types';
import { AlreadyExists, ConcurrencyConflict } from '../../../shared/errors';
import {
  type CertificateRepository,
  type EscrowStore,
  emptyAssignments,
  invalidPosition,
  type NoticeDelivery,
  type NoticeOutbox,
  type Page,
  type PageRequest,
} from '../../../shared/ports';
import { callAws } from './aws-errors';

/** Configuration of {@link DynamoDbCertificateRepository}, read once at cold start. */
export interface DynamoDbRepositoryConfig {
  tableName: string;
  /** Name of the sparse expiry GSI (partition `dueShard`, sort `dueAt`); default `due`. */
  dueIndexName?: string;
}

/** Number of partitions of the expiry index. Changing it needs a re-index of due items. */
export const DUE_SHARDS = 16;
/** Default name of the sparse expiry index. */
export const DUE_INDEX_NAME = 'due';

type Item = Record<string, AttributeValue>;

const MARSHALL = { removeUndefinedValues: true } as const;
const BATCH_GET_MAX = 100;

const tenantKey = (tenantId: string) => `TENANT#${tenantId}`;
const certKey = (certificateId: string) => `CERT#${certificateId}`;
const ASSIGN_KEY = 'ASSIGN';
/** Tenant ids hold no '#' (schemas.ts), so the certificate part of this key is unambiguous. */
const auditCertKey = (tenantId: string, certificateId: string) => `AUDITCERT#${tenantId}#${certificateId}`;
const AUDIT_PREFIX = 'AUDIT#';
/** Thresholds are zero-padded so they sort numerically within a certificate. */
const notifKey = (certificateId: string, thresholdDays: number) =>
  `NOTIF#${certificateId}#${String(thresholdDays).padStart(5, '0')}`;

/** The notification an item holds; one written before rule 14 reads as active nowhere, no replacement. */
function notificationOf(item: Item): ExpiryNotification {
  const stored = unmarshall(item.notification?.M ?? {}) as Omit<
    ExpiryNotification,
    'activeIn' | 'replacementAvailable'
  > & { activeIn?: unknown; replacementAvailable?: unknown };
  return {
    ...stored,
    activeIn: activeInFromStored(stored.activeIn),
    replacementAvailable: stored.replacementAvailable === true,
  };
}

/** The expiry-index shard of a certificate: stable, and spread evenly by a hash. */
export function dueShardOf(tenantId: string, certificateId: string): string {
  const digest = createHash('sha256').update(`${tenantId}\0${certificateId}`).digest();
  return `DUE#${(digest[0] ?? 0) % DUE_SHARDS}`;
}

let stampCounter = 0;
/**
 * A write stamp that orders entries written in the same millisecond in the order this process
 * wrote them (audit entries and notifications with equal times list newest-written first).
 */
function writeStamp(): string {
  stampCounter = (stampCounter + 1) % 1_000_000;
  return `${String(Date.now()).padStart(15, '0')}${String(stampCounter).padStart(6, '0')}`;
}

/** `CertificateRepository` on one DynamoDB table; the client is passed in, the config read once. */
export class DynamoDbCertificateRepository implements CertificateRepository, NoticeOutbox, EscrowStore {
  private readonly table: string;
  private readonly dueIndex: string;

  constructor(
    private readonly client: DynamoDBClient,
    config: DynamoDbRepositoryConfig,
  ) {
    this.table = config.tableName;
    this.dueIndex = config.dueIndexName ?? DUE_INDEX_NAME;
  }

  async createCertificate(record: CertificateRecord): Promise<void> {
    try {
      await callAws('The certificate store', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: certificateItem(record),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new AlreadyExists(`Certificate '${record.id}' already exists for tenant '${record.tenantId}'.`);
      }
      throw error;
    }
  }

  async getCertificate(tenantId: string, certificateId: string): Promise<CertificateRecord | undefined> {
    const out = await callAws('The certificate store', () =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: key(tenantKey(tenantId), certKey(certificateId)),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item === undefined ? undefined : certificateFromItem(out.Item);
  }

  async listCertificates(tenantId: string): Promise<CertificateRecord[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: tenantKey(tenantId) }, ':prefix': { S: 'CERT#' } },
    });
    return items
      .map(certificateFromItem)
      .sort((a, b) => compare(a.uploadedAt, b.uploadedAt) || compare(a.id, b.id));
  }

  async pageCertificates(tenantId: string, page: PageRequest): Promise<Page<CertificateRecord>> {
    const { items, next } = await this.queryPage(tenantKey(tenantId), 'CERT#', page, true);
    return { items: items.map(certificateFromItem), ...(next === undefined ? {} : { next }) };
  }

  async removeCertificate(tenantId: string, certificateId: string): Promise<void> {
    await callAws('The certificate store', () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: key(tenantKey(tenantId), certKey(certificateId)),
        }),
      ),
    );
  }

  async getAssignments(tenantId: string): Promise<VersionedAssignments> {
    const out = await callAws('The certificate store', () =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: key(tenantKey(tenantId), ASSIGN_KEY),
          ConsistentRead: true,
        }),
      ),
    );
    const version = out.Item?.version?.S;
    const json = out.Item?.stateJson?.S;
    if (version !== undefined && json !== undefined) {
      return { state: assignmentsFromStored(JSON.parse(json)), version };
    }
    // Items written before `stateJson` (a map; no profile id there can be a prototype name,
    // since marshall would have lost it on the way in). The next save rewrites the item.
    if (version !== undefined && out.Item?.state?.M !== undefined) {
      return { state: assignmentsFromStored(unmarshall(out.Item.state.M)), version };
    }
    return { state: emptyAssignments(), version: undefined };
  }

  async saveAssignments(
    tenantId: string,
    state: TenantAssignments,
    expectedVersion: string | undefined,
    options?: { deleteCertificateId?: string },
  ): Promise<void> {
    const next = nextVersion(expectedVersion);
    const put = {
      TableName: this.table,
      Item: {
        ...key(tenantKey(tenantId), ASSIGN_KEY),
        // JSON text, not a DynamoDB map: marshall/unmarshall copy map keys by assignment, so a
        // profile id `__proto__` would vanish (or reshape the object) on the way through.
        stateJson: { S: JSON.stringify(state) },
        version: { S: next },
      },
      ...(expectedVersion === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: 'version = :expected',
            ExpressionAttributeValues: { ':expected': { S: expectedVersion } },
          }),
    };
    if (options?.deleteCertificateId === undefined) {
      try {
        await callAws('The certificate store', () => this.client.send(new PutItemCommand(put)));
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new ConcurrencyConflict();
        throw error;
      }
      return;
    }
    const deleteKey = key(tenantKey(tenantId), certKey(options.deleteCertificateId));
    try {
      // One transaction: the certificate goes only if the guarded assignment write succeeds.
      await callAws('The certificate store', () =>
        this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [{ Put: put }, { Delete: { TableName: this.table, Key: deleteKey } }],
          }),
        ),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException && isLostRace(error)) throw new ConcurrencyConflict();
      throw error;
    }
  }

  async *findDueForNotification(now: string, pageSize: number): AsyncGenerator<CertificateRecord[]> {
    const limit = Math.max(1, Math.floor(pageSize));
    let keys: Item[] = [];
    for (let shard = 0; shard < DUE_SHARDS; shard++) {
      let startKey: Item | undefined;
      do {
        const out = await callAws('The certificate store', () =>
          this.client.send(
            new QueryCommand({
              TableName: this.table,
              IndexName: this.dueIndex,
              KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
              ExpressionAttributeValues: { ':shard': { S: `DUE#${shard}` }, ':now': { S: now } },
              Limit: limit,
              ExclusiveStartKey: startKey,
            }),
          ),
        );
        startKey = out.LastEvaluatedKey;
        for (const item of out.Items ?? []) {
          keys.push(pick(item, 'pk', 'sk'));
          if (keys.length >= limit) {
            const page = await this.dueRecords(keys, now);
            keys = [];
            if (page.length > 0) yield page;
          }
        }
      } while (startKey !== undefined);
    }
    if (keys.length > 0) {
      const page = await this.dueRecords(keys, now);
      if (page.length > 0) yield page;
    }
  }

  async addNotificationOnce(notification: ExpiryNotification): Promise<boolean> {
    try {
      await callAws('The certificate store', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ...key(
                tenantKey(notification.tenantId),
                notifKey(notification.certificateId, notification.thresholdDays),
              ),
              notification: { M: marshall(notification, MARSHALL) },
              stamp: { S: writeStamp() },
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async advanceExpiryCursor(
    tenantId: string,
    certificateId: string,
    expectedNextNotifyAt: string | null,
    update: ExpiryCursor,
  ): Promise<boolean> {
    const values: Item = {
      ':next': update.nextNotifyAt === null ? { NULL: true } : { S: update.nextNotifyAt },
      ':notified':
        update.notifiedThresholdDays === null ? { NULL: true } : { N: String(update.notifiedThresholdDays) },
    };
    let condition: string;
    if (expectedNextNotifyAt === null) {
      condition =
        'attribute_exists(pk) AND (attribute_not_exists(nextNotifyAt) OR attribute_type(nextNotifyAt, :null))';
      values[':null'] = { S: 'NULL' };
    } else {
      condition = 'attribute_exists(pk) AND nextNotifyAt = :expected';
      values[':expected'] = { S: expectedNextNotifyAt };
    }
    // The index keys follow the cursor: set while it points somewhere, removed once it is null
    // (sparse index: a certificate with nothing left to notify leaves the index).
    let updateExpression = 'SET nextNotifyAt = :next, notifiedThresholdDays = :notified';
    if (update.nextNotifyAt === null) {
      updateExpression += ' REMOVE dueShard, dueAt';
    } else {
      updateExpression += ', dueShard = :shard, dueAt = :next';
      values[':shard'] = { S: dueShardOf(tenantId, certificateId) };
    }
    try {
      await callAws('The certificate store', () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key(tenantKey(tenantId), certKey(certificateId)),
            ConditionExpression: condition,
            UpdateExpression: updateExpression,
            ExpressionAttributeValues: values,
          }),
        ),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async listNotifications(tenantId: string): Promise<ExpiryNotification[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: tenantKey(tenantId) }, ':prefix': { S: 'NOTIF#' } },
    });
    return items
      .map((item) => ({
        n: notificationOf(item),
        stamp: item.stamp?.S ?? '',
      }))
      .sort((a, b) => compare(b.n.createdAt, a.n.createdAt) || compare(b.stamp, a.stamp))
      .map(({ n }) => n);
  }

  async pageNotifications(tenantId: string, page: PageRequest): Promise<Page<ExpiryNotification>> {
    const { items, next } = await this.queryPage(tenantKey(tenantId), 'NOTIF#', page, true);
    return {
      items: items.map(notificationOf),
      ...(next === undefined ? {} : { next }),
    };
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    const sk = `${AUDIT_PREFIX}${entry.at}#${writeStamp()}#${entry.id}`;
    const put = (pk: string) => ({
      TableName: this.table,
      Item: { ...key(pk, sk), entry: { M: marshall(entry, MARSHALL) } },
      // An entry is never overwritten, even if a caller reuses an id.
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    await callAws('The certificate store', () =>
      this.client.send(new PutItemCommand(put(tenantKey(entry.tenantId)))),
    );
    const certificateId = entry.certificateId;
    if (certificateId === undefined) return;
    // The copy is a second write, not a transaction with the entry: entries and copies are both
    // append-only, and a failed copy is answered by taking the entry back, so the trail and the
    // filter by certificate never disagree and the caller sees the append fail as a whole.
    try {
      await callAws('The certificate store', () =>
        this.client.send(new PutItemCommand(put(auditCertKey(entry.tenantId, certificateId)))),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return;
      await this.client
        .send(new DeleteItemCommand({ TableName: this.table, Key: key(tenantKey(entry.tenantId), sk) }))
        .catch(() => undefined);
      throw error;
    }
  }

  async listAudit(tenantId: string, limit: number): Promise<AuditEntry[]> {
    const max = Math.max(0, Math.floor(limit));
    if (max === 0) return [];
    const items = await this.queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: tenantKey(tenantId) }, ':prefix': { S: 'AUDIT#' } },
        ScanIndexForward: false,
      },
      max,
    );
    return items.map((item) => unmarshall(item.entry?.M ?? {}) as AuditEntry);
  }

  async pageAudit(
    tenantId: string,
    page: PageRequest & { certificateId?: string | undefined },
  ): Promise<Page<AuditEntry>> {
    const pk =
      page.certificateId === undefined ? tenantKey(tenantId) : auditCertKey(tenantId, page.certificateId);
    const { items, next } = await this.queryPage(pk, AUDIT_PREFIX, page, false);
    return {
      items: items.map((item) => unmarshall(item.entry?.M ?? {}) as AuditEntry),
      ...(next === undefined ? {} : { next }),
    };
  }

  /**
   * One page of the items under `pk` whose sort key starts with `prefix`, strongly consistent,
   * after the position `page.after` (the sort key of the last item shown, prefix removed).
   * Reads one item more than the page to know whether another follows.
   */
  private async queryPage(
    pk: string,
    prefix: string,
    page: PageRequest,
    forward: boolean,
  ): Promise<{ items: Item[]; next?: string }> {
    const limit = Math.max(1, Math.floor(page.limit));
    if (page.after !== undefined && (page.after.length === 0 || Buffer.byteLength(page.after) > 1000)) {
      throw invalidPosition();
    }
    const items: Item[] = [];
    let startKey: Item | undefined = page.after === undefined ? undefined : key(pk, `${prefix}${page.after}`);
    do {
      const want = limit + 1 - items.length;
      const out = await callAws('The certificate store', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            ConsistentRead: true,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: { ':pk': { S: pk }, ':prefix': { S: prefix } },
            ScanIndexForward: forward,
            ExclusiveStartKey: startKey,
            Limit: want,
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && items.length <= limit);
    const shown = items.slice(0, limit);
    const lastSk = shown[shown.length - 1]?.sk?.S;
    return {
      items: shown,
      ...(items.length > limit && lastSk !== undefined ? { next: lastSk.slice(prefix.length) } : {}),
    };
  }

  async getEscrowCertificate(tenantId: string): Promise<EscrowCertificate | undefined> {
    const out = await callAws('The escrow store', () =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: key(tenantKey(tenantId), ESCROW_SK),
          ConsistentRead: true,
        }),
      ),
    );
    const stored = out.Item?.escrow?.M;
    return stored === undefined ? undefined : { ...(unmarshall(stored) as EscrowCertificate), tenantId };
  }

  async putEscrowCertificate(certificate: EscrowCertificate): Promise<void> {
    await callAws('The escrow store', () =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...key(tenantKey(certificate.tenantId), ESCROW_SK),
            escrow: { M: marshall(certificate, MARSHALL) },
          },
        }),
      ),
    );
  }

  async putEscrowCopy(copy: EscrowCopy): Promise<void> {
    await callAws('The escrow store', () =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...key(tenantKey(copy.tenantId), `${ESCROW_COPY_PREFIX}${copy.certificateId}`),
            fingerprint: { S: copy.escrowFingerprintSha256 },
            cms: { B: copy.cms },
            sealedAt: { S: copy.sealedAt },
          },
        }),
      ),
    );
  }

  async listEscrowCopies(tenantId: string): Promise<EscrowCopy[]> {
    const items = await this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': { S: tenantKey(tenantId) }, ':prefix': { S: ESCROW_COPY_PREFIX } },
    });
    return items.map((item) => ({
      tenantId,
      certificateId: (item.sk?.S ?? '').slice(ESCROW_COPY_PREFIX.length),
      escrowFingerprintSha256: item.fingerprint?.S ?? '',
      cms: Buffer.from(item.cms?.B ?? new Uint8Array()),
      sealedAt: item.sealedAt?.S ?? '',
    }));
  }

  async removeEscrowCopy(tenantId: string, certificateId: string): Promise<void> {
    await callAws('The escrow store', () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: key(tenantKey(tenantId), `${ESCROW_COPY_PREFIX}${certificateId}`),
        }),
      ),
    );
  }

  /** A consistent query of the base table, following pages until done or `max` items. */
  private async queryAll(
    input: Omit<QueryCommandInput, 'TableName' | 'ConsistentRead' | 'ExclusiveStartKey'>,
    max = Number.POSITIVE_INFINITY,
  ): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const remaining = max - items.length;
      const out = await callAws('The certificate store', () =>
        this.client.send(
          new QueryCommand({
            ...input,
            TableName: this.table,
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
            ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      startKey = out.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < max);
    return items;
  }

  /** Reads the records behind index keys consistently and keeps those still due at `now`. */
  private async dueRecords(keys: Item[], now: string): Promise<CertificateRecord[]> {
    const records: CertificateRecord[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_MAX) {
      let pending: Item[] = keys.slice(i, i + BATCH_GET_MAX);
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** round)));
        if (round > 8) throw new Error('DynamoDB kept returning unprocessed keys; retry the scan later.');
        const batch = pending;
        const out = await callAws('The certificate store', () =>
          this.client.send(
            new BatchGetItemCommand({
              RequestItems: { [this.table]: { Keys: batch, ConsistentRead: true } },
            }),
          ),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const record = certificateFromItem(item);
          if (record.nextNotifyAt !== null && record.nextNotifyAt <= now) records.push(record);
        }
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return records.sort(
      (a, b) =>
        compare(a.nextNotifyAt ?? '', b.nextNotifyAt ?? '') ||
        compare(a.tenantId, b.tenantId) ||
        compare(a.id, b.id),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Webhook outbox (NoticeOutbox). A delivery is one item (`OUTBOX#<id>`); while pending it sits
  // in the sparse due index under its own partition (`OUTBOX`, apart from the certificate shards
  // the scan reads) with `dueAt` = its next attempt. Delivered, it leaves the index but stays, so
  // the same notice enqueued again is not sent twice.

  async enqueueDelivery(delivery: { id: string; body: string }, dueAt: string): Promise<void> {
    try {
      await callAws('The webhook outbox', () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ...key(outboxKey(delivery.id), OUTBOX_SK),
              body: { S: delivery.body },
              attempts: { N: '0' },
              dueShard: { S: OUTBOX_SHARD },
              dueAt: { S: dueAt },
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async claimDueDeliveries(now: string, leaseUntil: string, limit: number): Promise<NoticeDelivery[]> {
    const out = await callAws('The webhook outbox', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: this.dueIndex,
          KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
          ExpressionAttributeValues: { ':shard': { S: OUTBOX_SHARD }, ':now': { S: now } },
          Limit: Math.max(1, Math.floor(limit)),
        }),
      ),
    );
    const claimed: NoticeDelivery[] = [];
    for (const entry of out.Items ?? []) {
      // The index is eventually consistent: the lease is a compare-and-set on the base item, so
      // of two drainers (or a stale index entry) exactly one gets each delivery.
      try {
        const updated = await callAws('The webhook outbox', () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.table,
              Key: pick(entry, 'pk', 'sk'),
              UpdateExpression: 'SET dueAt = :lease',
              ConditionExpression: 'dueAt <= :now',
              ExpressionAttributeValues: { ':lease': { S: leaseUntil }, ':now': { S: now } },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        const item = updated.Attributes ?? {};
        claimed.push({
          id: (item.pk?.S ?? '').slice(OUTBOX_PREFIX.length),
          body: item.body?.S ?? '',
          attempts: Number(item.attempts?.N ?? '0'),
        });
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    return claimed;
  }

  async markDelivered(id: string, at: string): Promise<void> {
    await callAws('The webhook outbox', () =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: key(outboxKey(id), OUTBOX_SK),
          UpdateExpression: 'SET deliveredAt = :at REMOVE dueShard, dueAt, lastError',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':at': { S: at } },
        }),
      ),
    );
  }

  async scheduleRetry(id: string, attempts: number, nextAttemptAt: string, lastError: string): Promise<void> {
    try {
      await callAws('The webhook outbox', () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: key(outboxKey(id), OUTBOX_SK),
            UpdateExpression: 'SET attempts = :attempts, dueAt = :next, lastError = :error',
            // Never puts a delivered item back into the index.
            ConditionExpression: 'attribute_exists(dueAt)',
            ExpressionAttributeValues: {
              ':attempts': { N: String(attempts) },
              ':next': { S: nextAttemptAt },
              ':error': { S: lastError.slice(0, 500) },
            },
          }),
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

const ESCROW_SK = 'ESCROW';
const ESCROW_COPY_PREFIX = 'ESCROWKEY#';

const OUTBOX_PREFIX = 'OUTBOX#';
const OUTBOX_SK = 'DLV';
/** The due-index partition of pending deliveries (the certificate shards are `DUE#<n>`). */
const OUTBOX_SHARD = 'OUTBOX';
const outboxKey = (id: string) => `${OUTBOX_PREFIX}${id}`;

function key(pk: string, sk: string): Item {
  return { pk: { S: pk }, sk: { S: sk } };
}

function pick(item: Item, ...names: string[]): Item {
  const out: Item = {};
  for (const name of names) {
    const value = item[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function certificateItem(record: CertificateRecord): Item {
  const {
    rest,
    cursor: { nextNotifyAt, notifiedThresholdDays },
  } = splitExpiryCursor(record);
  const item: Item = {
    ...key(tenantKey(record.tenantId), certKey(record.id)),
    rec: { M: marshall(rest, MARSHALL) },
    nextNotifyAt: nextNotifyAt === null ? { NULL: true } : { S: nextNotifyAt },
    notifiedThresholdDays:
      notifiedThresholdDays === null ? { NULL: true } : { N: String(notifiedThresholdDays) },
  };
  if (nextNotifyAt !== null) {
    item.dueShard = { S: dueShardOf(record.tenantId, record.id) };
    item.dueAt = { S: nextNotifyAt };
  }
  return item;
}

function certificateFromItem(item: Item): CertificateRecord {
  return joinExpiryCursor(unmarshall(item.rec?.M ?? {}) as RecordWithoutCursor, {
    nextNotifyAt: item.nextNotifyAt?.S ?? null,
    notifiedThresholdDays:
      item.notifiedThresholdDays?.N === undefined ? null : Number(item.notifiedThresholdDays.N),
  });
}

/** Versions are decimal counters; a token that is not one can never match, so any next is fine. */
function nextVersion(expected: string | undefined): string {
  if (expected === undefined) return '1';
  const n = /^[1-9][0-9]{0,15}$/.test(expected) ? Number(expected) : 0;
  return String(n + 1);
}

/** A transaction that failed on our condition or on a concurrent transaction lost a race. */
function isLostRace(error: TransactionCanceledException): boolean {
  return (error.CancellationReasons ?? []).some(
    (reason) => reason.Code === 'ConditionalCheckFailed' || reason.Code === 'TransactionConflict',
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
