import crypto from 'node:crypto';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { KmsS3Keystore } from '../../functions/aws/adapters/kms-s3-keystore';
import {
  assignmentConsumer,
  consumerDeps,
  eventOfMessage,
} from '../../functions/aws/handlers/assignment-consumer';
import { expiryScanFunction, scanDeps } from '../../functions/aws/handlers/expiry-scan';
import { readFunction } from '../../functions/aws/handlers/read';
import { readDeps } from '../../functions/aws/handlers/read-deps';
import { writeFunction } from '../../functions/aws/handlers/write';
import { type WriteClients, writeDeps } from '../../functions/aws/handlers/write-deps';
import type { HttpApiEvent, HttpApiResult } from '../../functions/aws/runtime';
import { type AwsResources, provisionAwsResources } from '../../scripts/emulators/moto-resources';
import { sqsEvent } from '../../scripts/hosts/sqs-event-source';
import { ORPHAN_MIN_AGE_MS } from '../../shared/usecases/orphan-keys';
import { daysFrom, makePair, rsaKey } from '../helpers/pki';
import { uniqueTenantId } from '../ports/fixtures';
import { motoClients } from './clients';
import { failingAt } from './faults';
import { motoEndpoint } from './moto';

const clients = motoClients();
let resources: AwsResources;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  resources = await provisionAwsResources(motoEndpoint(), {
    prefix: `handlers-${crypto.randomBytes(4).toString('hex')}`,
  });
  env = { ...resources.env, LOG_LEVEL: 'silent' };
});

const writeClients = (): WriteClients => ({
  dynamodb: clients.dynamodb,
  s3: clients.s3,
  kms: clients.kms,
  events: clients.events,
});
const writeWith = (overrides: Partial<WriteClients> = {}) =>
  writeFunction(() => writeDeps({ ...writeClients(), ...overrides }, env));
const read = () => readFunction(() => readDeps({ dynamodb: clients.dynamodb }, env));
const consumer = () =>
  assignmentConsumer(() => consumerDeps({ dynamodb: clients.dynamodb, events: clients.events }, env));
const scan = () =>
  expiryScanFunction(() =>
    scanDeps(
      {
        dynamodb: clients.dynamodb,
        events: clients.events,
        sns: clients.sns,
        s3: clients.s3,
        kms: clients.kms,
      },
      env,
    ),
  );

/** An HTTP API payload 2.0 event as API Gateway builds it (claims as strings, like the JWT authorizer). */
function apiEvent(options: {
  method: string;
  path: string;
  routeKey?: string;
  body?: string;
  base64?: boolean;
  contentType?: string;
  tenant?: string;
  roles?: string[];
}): HttpApiEvent {
  const body =
    options.body === undefined
      ? {}
      : {
          body: options.base64 ? Buffer.from(options.body).toString('base64') : options.body,
        };
  return {
    version: '2.0',
    routeKey: options.routeKey ?? `${options.method} ${options.path}`,
    rawPath: options.path,
    rawQueryString: '',
    headers: { 'Content-Type': options.contentType ?? 'application/json', host: 'api.example' },
    isBase64Encoded: options.base64 === true,
    ...body,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example',
      domainPrefix: 'api',
      http: {
        method: options.method,
        path: options.path,
        protocol: 'HTTP/1.1',
        sourceIp: '10.0.0.1',
        userAgent: 'jest',
      },
      requestId: crypto.randomUUID(),
      routeKey: options.routeKey ?? `${options.method} ${options.path}`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(options.tenant
        ? {
            authorizer: {
              jwt: {
                claims: {
                  sub: 'handler-test',
                  exp: String(Math.floor(Date.now() / 1000) + 3600),
                  tenant: options.tenant,
                  roles: `[${(options.roles ?? ['admin', 'decrypt']).join(' ')}]`,
                },
                scopes: null,
              },
            },
          }
        : {}),
    },
  };
}

function json(result: HttpApiResult): {
  status: number;
  body: Record<string, unknown> & { error?: { code: string } };
} {
  const text = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64').toString()
    : (result.body ?? '');
  return { status: result.statusCode ?? 0, body: text ? JSON.parse(text) : {} };
}

function uploadEvent(tenant: string, options: { days?: number; base64?: boolean } = {}) {
  const now = new Date();
  const pair = makePair({
    key: rsaKey(crypto.randomUUID()),
    now,
    notAfter: daysFrom(now, options.days ?? 365),
  });
  return apiEvent({
    method: 'POST',
    path: `/v1/tenants/${tenant}/certificates`,
    routeKey: 'POST /v1/tenants/{tenantId}/certificates',
    body: JSON.stringify({ certificate: pair.certPem, privateKey: pair.keyPem }),
    base64: options.base64 ?? false,
    tenant,
    roles: ['admin'],
  });
}

async function upload(tenant: string, options: { days?: number } = {}): Promise<string> {
  const created = json(await writeWith()(uploadEvent(tenant, options)));
  expect(created.status).toBe(201);
  return created.body.id as string;
}

/** What the tenant holds: certificate items in the table and key objects in the bucket. */
async function holdings(tenant: string): Promise<{ certificates: number; keyObjects: number }> {
  const items = await clients.dynamodb.send(
    new QueryCommand({
      TableName: env.TABLE_NAME,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :cert)',
      ExpressionAttributeValues: { ':pk': { S: `TENANT#${tenant}` }, ':cert': { S: 'CERT#' } },
      ConsistentRead: true,
    }),
  );
  const objects = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: env.BUCKET_NAME, Prefix: `tenants/${tenant}/` }),
  );
  return { certificates: items.Count ?? 0, keyObjects: objects.KeyCount ?? 0 };
}

/** Requests an assignment and receives the message the bus rule put on the queue. */
async function requestAssignment(tenant: string, profile: string, certificateId: string): Promise<SQSEvent> {
  const path = `/v1/tenants/${tenant}/ivr-profiles/${profile}/recording-certificate`;
  const accepted = json(
    await writeWith()(
      apiEvent({ method: 'PUT', path, body: JSON.stringify({ certificateId }), tenant, roles: ['admin'] }),
    ),
  );
  expect(accepted.status).toBe(202);
  for (let polls = 0; polls < 30; polls++) {
    const out = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: resources.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    const mine = (out.Messages ?? []).filter((m) => eventOfMessage(m.Body ?? '').tenantId === tenant);
    if (mine.length > 0) return sqsEvent(mine, resources.queueArn);
  }
  throw new Error('the assignment request never reached the queue');
}

async function profileOf(tenant: string, profile: string) {
  return json(
    await read()(
      apiEvent({
        method: 'GET',
        path: `/v1/tenants/${tenant}/ivr-profiles/${profile}`,
        tenant,
        roles: ['decrypt'],
      }),
    ),
  );
}

describe('AWS Lambda handlers (against moto)', () => {
  describe('API Gateway event translation', () => {
    it('decodes a base64 body and builds the caller from the authorizer claims (string arrays)', async () => {
      const tenant = uniqueTenantId();

      const created = json(await writeWith()(uploadEvent(tenant, { base64: true })));

      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ tenantId: tenant, uploadedBy: 'handler-test' });
      const got = await read()(
        apiEvent({
          method: 'GET',
          path: `/v1/tenants/${tenant}/certificates/${created.body.id}`,
          tenant,
          roles: ['decrypt'],
        }),
      );
      expect(got).toMatchObject({ statusCode: 200, isBase64Encoded: false });
      expect(json(got).body.id).toBe(created.body.id);
    });

    it("still checks tenant and role itself: another tenant's claims get 403, no claims 401", async () => {
      const tenant = uniqueTenantId();
      const path = `/v1/tenants/${tenant}/certificates`;

      const otherTenant = json(await read()(apiEvent({ method: 'GET', path, tenant: uniqueTenantId() })));
      const readerWrites = json(
        await writeWith()(apiEvent({ method: 'DELETE', path: `${path}/x`, tenant, roles: ['decrypt'] })),
      );
      const noClaims = json(await read()(apiEvent({ method: 'GET', path })));

      expect(otherTenant).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect(readerWrites).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect(noClaims).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    });

    it('serves only its own routes, and answers the $default route with 404 or 405', async () => {
      const tenant = uniqueTenantId();

      const writeRouteOnRead = json(
        await read()(apiEvent({ method: 'DELETE', path: `/v1/tenants/${tenant}/certificates/x`, tenant })),
      );
      const unknown = json(
        await read()(apiEvent({ method: 'GET', path: '/v1/nothing', routeKey: '$default' })),
      );
      const wrongMethod = json(
        await read()(apiEvent({ method: 'PUT', path: '/v1/expiry-scan', routeKey: '$default' })),
      );

      expect(writeRouteOnRead.status).toBe(405);
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
      expect(wrongMethod).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    });
  });

  describe('deps built on the first request', () => {
    it('builds deps once, and retries a build that failed on the next request', async () => {
      const tenant = uniqueTenantId();
      const event = apiEvent({ method: 'GET', path: `/v1/tenants/${tenant}/certificates`, tenant });
      let builds = 0;
      const handler = readFunction(() => {
        builds++;
        // The first build fails as a missing setting does (requireEnv throws).
        return readDeps({ dynamodb: clients.dynamodb }, builds === 1 ? {} : env);
      });

      const first = handler(event);
      await expect(first).rejects.toThrow(/TABLE_NAME is not set/);
      const second = json(await handler(event));
      const third = json(await handler(event));

      expect(second.status).toBe(200);
      expect(third.status).toBe(200);
      expect(builds).toBe(2);
    });
  });

  describe('assignment consumer (SQS, EventBridge envelopes)', () => {
    it('applies an assignment, and a redelivered message changes nothing', async () => {
      const tenant = uniqueTenantId();
      const certificateId = await upload(tenant);
      const delivery = await requestAssignment(tenant, 'support', certificateId);

      const first = await consumer()(delivery);
      const applied = await profileOf(tenant, 'support');
      const again = await consumer()(delivery);
      const after = await profileOf(tenant, 'support');

      expect(first).toEqual({ batchItemFailures: [] });
      expect(applied.body).toMatchObject({ id: 'support', activeCertificateId: certificateId });
      expect(again).toEqual({ batchItemFailures: [] });
      expect(after.body).toEqual(applied.body);
    });

    it('reports only the failing record in batchItemFailures and applies the others', async () => {
      const tenant = uniqueTenantId();
      const certificateId = await upload(tenant);
      const good = await requestAssignment(tenant, 'record', certificateId);
      const goodRecord = good.Records[0]!;
      const poison = { ...goodRecord, messageId: 'poison-1', body: '{"not":"an event"}' };
      const broken = { ...goodRecord, messageId: 'poison-2', body: 'not json' };

      const result = await consumer()({ Records: [poison, goodRecord, broken] });

      expect(result.batchItemFailures).toEqual([
        { itemIdentifier: 'poison-1' },
        { itemIdentifier: 'poison-2' },
      ]);
      expect((await profileOf(tenant, 'record')).body).toMatchObject({ activeCertificateId: certificateId });
    });
  });

  describe('expiry scan', () => {
    it('sweeps key objects no certificate holds once they are an hour old, and keeps the rest', async () => {
      // A bucket of its own: a sweep of the shared one would race other test files' uploads.
      const bucket = `sweep-${crypto.randomBytes(6).toString('hex')}`;
      await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const tenant = uniqueTenantId();
      await upload(tenant);
      // The uploaded certificate's key object, copied as is: its record holds this keyRef.
      const held = await clients.s3.send(
        new ListObjectsV2Command({ Bucket: env.BUCKET_NAME, Prefix: `tenants/${tenant}/keys/` }),
      );
      const heldKey = held.Contents![0]!.Key!;
      await clients.s3.send(
        new CopyObjectCommand({ Bucket: bucket, Key: heldKey, CopySource: `${env.BUCKET_NAME}/${heldKey}` }),
      );
      const keystore = new KmsS3Keystore(clients.kms, clients.s3, {
        bucketName: bucket,
        kmsKeyId: env.KMS_KEY_ID!,
      });
      const der = crypto
        .generateKeyPairSync('rsa', { modulusLength: 2048 })
        .privateKey.export({ type: 'pkcs8', format: 'der' });
      await keystore.store({ tenantId: tenant, certificateId: 'f'.repeat(32), alias: 'orphan' }, der, '');
      const objects = async () =>
        ((await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map(
          (o) => o.Key,
        );
      const scanAt = (now: Date) =>
        expiryScanFunction(() => ({
          ...scanDeps(
            {
              dynamodb: clients.dynamodb,
              events: clients.events,
              sns: clients.sns,
              s3: clients.s3,
              kms: clients.kms,
            },
            { ...env, BUCKET_NAME: bucket },
          ),
          clock: { now: () => now },
        }));

      const young = await scanAt(new Date())({});
      const later = await scanAt(new Date(Date.now() + ORPHAN_MIN_AGE_MS + 60_000))({});

      expect(young).toMatchObject({ orphanKeysRemoved: 0 });
      expect(later).toMatchObject({ orphanKeysRemoved: 1 });
      expect(await objects()).toEqual([heldKey]);
    });

    it('runs the scan on a Scheduler invocation and records the notification', async () => {
      const tenant = uniqueTenantId();
      const certificateId = await upload(tenant, { days: 10 });
      // Notices are about certificates in use (rule 14): this one goes into the screen-recording set.
      const activated = json(
        await writeWith()(
          apiEvent({
            method: 'PATCH',
            path: `/v1/tenants/${tenant}/screen-recording-certificates`,
            body: JSON.stringify({ add: [certificateId] }),
            tenant,
            roles: ['admin'],
          }),
        ),
      );
      expect(activated.status).toBe(200);

      const result = await scan()({});

      expect(result).toMatchObject({ scanned: expect.any(Number), notifications: expect.any(Number) });
      expect((result as { notifications: number }).notifications).toBeGreaterThanOrEqual(1);
      const list = json(
        await read()(apiEvent({ method: 'GET', path: `/v1/tenants/${tenant}/notifications`, tenant })),
      );
      expect(list.body.items).toEqual([
        expect.objectContaining({
          certificateId,
          kind: 'expiring',
          thresholdDays: 14,
          activeIn: { ivrProfiles: [], screenRecording: true },
          replacementAvailable: false,
        }),
      ]);
    });

    it('serves POST /v1/expiry-scan for the operator through the same function', async () => {
      const event = apiEvent({
        method: 'POST',
        path: '/v1/expiry-scan',
        body: '{}',
        tenant: 'ops',
        roles: ['operator'],
      });

      const result = json((await scan()(event)) as HttpApiResult);

      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ scanned: expect.any(Number), notifications: expect.any(Array) });
    });
  });

  describe('upload failure paths (injected faults)', () => {
    const serverError = (name: string) => () => {
      const error = new Error(`${name} (injected)`) as Error & { $metadata: object; $fault: string };
      error.name = name;
      error.$fault = 'server';
      error.$metadata = { httpStatusCode: 500 };
      return error;
    };

    it.each([
      ['KMS throttling', () => ({ kms: failingAt(clients.kms, 'GenerateDataKeyCommand') })],
      [
        'an S3 error',
        () => ({ s3: failingAt(clients.s3, 'PutObjectCommand', { error: serverError('InternalError') }) }),
      ],
      [
        'a DynamoDB error between the key write and the metadata write',
        () => ({
          dynamodb: failingAt(clients.dynamodb, 'PutItemCommand', {
            error: serverError('InternalServerError'),
            times: 1,
          }),
        }),
      ],
    ])(
      'answers 503 with Retry-After on %s and leaves no key object or certificate item',
      async (_what, faults) => {
        const tenant = uniqueTenantId();

        const result = await writeWith(faults())(uploadEvent(tenant));

        expect(json(result)).toMatchObject({ status: 503, body: { error: { code: 'SERVICE_UNAVAILABLE' } } });
        expect(Number(result.headers?.['retry-after'])).toBeGreaterThan(0);
        expect(await holdings(tenant)).toEqual({ certificates: 0, keyObjects: 0 });
      },
    );
  });
});
