/**
 * The Azure Functions handlers called as the host calls them (`HttpRequest`, `InvocationContext`,
 * queue items, timers) against Azurite. Key custody is the file keystore (RECCERT_KEY_CUSTODY=file):
 * no Key Vault emulator can be installed here, so Key Vault appears only as the real adapter whose
 * calls are failed by injection before they leave the process.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HttpRequest, type HttpResponseInit, InvocationContext, type Timer } from '@azure/functions';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import type { QueueClient } from '@azure/storage-queue';
import { exportJWK, generateKeyPair, type JWK, type KeyLike, SignJWT } from 'jose';
import { KEY_VAULT_SERVICE_VERSION, KeyVaultCustody } from '../../functions/azure/adapters/key-vault-custody';
import type { ExpiryNotificationMessage } from '../../functions/azure/adapters/queue-notification-sink';
import {
  decodeQueueMessage,
  ensureQueues,
  QUEUE_NAMES,
} from '../../functions/azure/adapters/queue-publisher';
import { ensureTables } from '../../functions/azure/adapters/table-repository';
import { eventOfQueueItem, handleAssignmentMessage } from '../../functions/azure/handlers/assignment-queue';
import { handleExpiryTimer } from '../../functions/azure/handlers/expiry-timer';
import { handleHttp, httpFunction } from '../../functions/azure/handlers/http';
import {
  type AzureRuntime,
  buildRuntime,
  provideDefaultOverrides,
  type RuntimeOverrides,
  readRuntimeConfig,
} from '../../functions/azure/runtime';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import { FileKeystore, loadOrCreateMasterKey } from '../../functions/local/file-keystore';
import { POISON_QUEUE, startQueueTrigger } from '../../scripts/hosts/functions-triggers';
import type { Role } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import { daysFrom, makePair, type TestPair } from '../helpers/pki';
import { storageConnectionString } from './clients';
import { injectFault, serviceError } from './faults';

const BASE = 'https://reccert.example.test';
const quiet = jsonLogger('silent');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-azfn-'));
}

function tenantId(): string {
  return `t-${crypto.randomBytes(5).toString('hex')}`;
}

function pair(days = 365): TestPair {
  return makePair({
    now: new Date(),
    notAfter: daysFrom(new Date(), days),
    key: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  });
}

/** The environment of a Function App pointed at Azurite, with tables under a fresh prefix. */
function azuriteEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    RECCERT_STORAGE_CONNECTION_STRING: storageConnectionString(),
    RECCERT_TABLE_PREFIX: `h${crypto.randomBytes(4).toString('hex')}`,
    RECCERT_KEY_CUSTODY: 'file',
    DATA_DIR: tempDir(),
    LOG_LEVEL: 'silent',
    ...extra,
  };
}

/** The file keystore in DATA_DIR, as the dev server provides it for RECCERT_KEY_CUSTODY=file. */
async function fileKeystore(dataDir: string): Promise<FileKeystore> {
  const masterKey = await loadOrCreateMasterKey(dataDir);
  const keystore = new FileKeystore(dataDir, masterKey);
  masterKey.fill(0);
  return keystore;
}

async function runtimeFor(env: NodeJS.ProcessEnv, overrides: RuntimeOverrides = {}): Promise<AzureRuntime> {
  const runtime = await buildRuntime(readRuntimeConfig(env), {
    logger: quiet,
    custody: await fileKeystore(env.DATA_DIR!),
    ...overrides,
  });
  await ensureTables(runtime.tables);
  await ensureQueues(runtime.queueClient, [
    QUEUE_NAMES.ivrAssignments,
    POISON_QUEUE,
    QUEUE_NAMES.expiryNotifications,
  ]);
  return runtime;
}

interface Call {
  method: string;
  path: string;
  token?: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: Buffer;
  contentType?: string;
}

function request(call: Call): HttpRequest {
  const headers: Record<string, string> = { ...(call.headers ?? {}) };
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  let bytes: Buffer | undefined = call.body;
  if (call.json !== undefined) {
    bytes = Buffer.from(JSON.stringify(call.json));
    headers['content-type'] = 'application/json';
  } else if (call.contentType) headers['content-type'] = call.contentType;
  return new HttpRequest({
    method: call.method,
    url: `${BASE}${call.path}`,
    headers,
    ...(bytes ? { body: { bytes } } : {}),
  });
}

/** The response's body as text (the handlers answer with strings or bytes). */
function text(response: HttpResponseInit): string {
  const body = response.body;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  return '';
}

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
function json(response: HttpResponseInit): any {
  return JSON.parse(text(response));
}

function header(response: HttpResponseInit, name: string): string | undefined {
  return (response.headers as Record<string, string> | undefined)?.[name];
}

function context(functionName = 'test', triggerMetadata?: Record<string, unknown>): InvocationContext {
  return new InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName,
    ...(triggerMetadata ? { triggerMetadata } : {}),
  });
}

function multipart(parts: Record<string, string>): { body: Buffer; contentType: string } {
  const boundary = `----reccert${crypto.randomBytes(8).toString('hex')}`;
  const chunks = Object.entries(parts).map(
    ([name, value]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.pem"\r\nContent-Type: application/x-pem-file\r\n\r\n${value}\r\n`,
  );
  return {
    body: Buffer.from(`${chunks.join('')}--${boundary}--\r\n`),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/** Every message on a queue, decoded, and removed. */
async function drain<T>(queue: QueueClient): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const received = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (received.receivedMessageItems.length === 0) return out;
    for (const item of received.receivedMessageItems) {
      out.push(decodeQueueMessage<T>(item.messageText));
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

describe('the exported Azure Functions handlers (local auth, file keystore, Azurite)', () => {
  let secret: Buffer;
  const token = (tenants: string[], roles: Role[] = ['admin', 'decrypt']) =>
    mintLocalToken(secret, { subject: 'fn-admin', tenants, roles });

  beforeAll(async () => {
    // The exported handlers read process.env once, on their first invocation, as in a Function App.
    const env = azuriteEnv({ RECCERT_AUTH_MODE: 'local', RECCERT_TABLE_PREFIX: 'fnexported' });
    Object.assign(process.env, env);
    provideDefaultOverrides({ custody: await fileKeystore(env.DATA_DIR!) });
    secret = loadOrCreateTokenSecret(env.DATA_DIR!);
    const runtime = await runtimeFor(env);
    await drain(runtime.queueClient(QUEUE_NAMES.ivrAssignments));
    await drain(runtime.queueClient(QUEUE_NAMES.expiryNotifications));
  });

  it('translates requests and responses: public routes, errors in the API shape, 413 over 64 KiB', async () => {
    const health = await handleHttp(request({ method: 'GET', path: '/v1/health' }), context());
    expect(health.status).toBe(200);
    expect(json(health)).toEqual({ status: 'ok', version: expect.any(String) });

    const openapi = await handleHttp(request({ method: 'GET', path: '/v1/openapi.json' }), context());
    expect(json(openapi).openapi).toMatch(/^3\.1/);

    const unknown = await handleHttp(request({ method: 'GET', path: '/v1/nothing' }), context());
    expect(unknown.status).toBe(404);
    expect(json(unknown).error.code).toBe('NOT_FOUND');

    const t = tenantId();
    const big = await handleHttp(
      request({
        method: 'POST',
        path: `/v1/tenants/${t}/certificates`,
        token: await token([t]),
        json: { certificate: 'x'.repeat(70 * 1024) },
      }),
      context(),
    );
    expect(big.status).toBe(413);
    expect(json(big).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('uploads multipart bytes and answers 201 with Location, key and alias, and no key bytes', async () => {
    const t = tenantId();
    const p = pair();
    const form = multipart({ certificate: p.certPem, privateKey: p.keyPem });
    const res = await handleHttp(
      request({
        method: 'POST',
        path: `/v1/tenants/${t}/certificates`,
        token: await token([t]),
        body: form.body,
        contentType: form.contentType,
      }),
      context('uploadCertificate'),
    );

    expect(res.status).toBe(201);
    const body = json(res);
    expect(header(res, 'location')).toBe(`/v1/tenants/${t}/certificates/${body.id}`);
    expect(body.key).toEqual(expect.any(String));
    expect(body.alias).toEqual(expect.any(String));
    expect(text(res)).not.toContain(p.keyPem.split('\n')[1]);
    const listed = await handleHttp(
      request({
        method: 'GET',
        path: `/v1/tenants/${t}/certificates?status=active&status=expired`,
        token: await token([t]),
      }),
      context(),
    );
    expect(json(listed).items.map((c: { id: string }) => c.id)).toEqual([body.id]);
  });

  it('applies a queued assignment once: a redelivered message changes nothing', async () => {
    const t = tenantId();
    const admin = await token([t]);
    const p = pair();
    const upload = await handleHttp(
      request({
        method: 'POST',
        path: `/v1/tenants/${t}/certificates`,
        token: admin,
        json: { certificate: p.certPem, privateKey: p.keyPem },
      }),
      context(),
    );
    expect(upload.status).toBe(201);
    const runtime = await runtimeFor(process.env);
    const messages = (await drain<unknown>(runtime.queueClient(QUEUE_NAMES.ivrAssignments))).filter(
      (m) => eventOfQueueItem(m).tenantId === t,
    );
    expect(messages).toHaveLength(1);

    await handleAssignmentMessage(messages[0], context('ivrAssignmentConsumer', { dequeueCount: 1 }));
    const profilePath = `/v1/tenants/${t}/ivr-profiles/record`;
    const first = json(
      await handleHttp(request({ method: 'GET', path: profilePath, token: admin }), context()),
    );
    const auditPath = `/v1/tenants/${t}/audit`;
    const auditBefore = json(
      await handleHttp(request({ method: 'GET', path: auditPath, token: admin }), context()),
    );
    // The host redelivers the same message text (as a string this time: a plain queue message).
    const redelivered = Buffer.from(JSON.stringify(messages[0])).toString('base64');
    await handleAssignmentMessage(redelivered, context('ivrAssignmentConsumer', { dequeueCount: 2 }));

    const second = json(
      await handleHttp(request({ method: 'GET', path: profilePath, token: admin }), context()),
    );
    const auditAfter = json(
      await handleHttp(request({ method: 'GET', path: auditPath, token: admin }), context()),
    );
    expect(first.activeCertificateId).toBe(json(upload).id);
    expect(second).toEqual(first);
    expect(auditAfter.items).toEqual(auditBefore.items);
    expect(
      auditAfter.items.filter((e: { action: string }) => e.action === 'ivr.assign.applied'),
    ).toHaveLength(1);
  });

  it('moves a message that keeps failing to the poison queue after maxDequeueCount attempts', async () => {
    const runtime = await runtimeFor(process.env);
    const queue = runtime.queueClient(QUEUE_NAMES.ivrAssignments);
    const poison = runtime.queueClient(POISON_QUEUE);
    await drain(poison);
    await queue.sendMessage(Buffer.from(JSON.stringify({ type: 'NotAnEvent' })).toString('base64'));

    const trigger = startQueueTrigger(queue, poison, quiet, {
      maxDequeueCount: 2,
      visibilityTimeoutSeconds: 1,
    });
    let poisoned: unknown[] = [];
    const deadline = Date.now() + 20_000;
    while (poisoned.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      poisoned = peeked.peekedMessageItems.map((m) => decodeQueueMessage(m.messageText));
    }
    await trigger.stop();

    expect(poisoned).toEqual([{ type: 'NotAnEvent' }]);
    expect((await queue.peekMessages()).peekedMessageItems).toHaveLength(0);
    await drain(poison);
  });

  it('runs the daily scan from the timer and writes each new notification to the queue once', async () => {
    const t = tenantId();
    const admin = await token([t]);
    const p = pair(10);
    const upload = await handleHttp(
      request({
        method: 'POST',
        path: `/v1/tenants/${t}/certificates`,
        token: admin,
        json: { certificate: p.certPem, privateKey: p.keyPem },
      }),
      context(),
    );
    expect(upload.status).toBe(201);
    // Notices are about certificates in use (rule 14): this one goes into the screen-recording set
    // (applied at once, unlike the automatic IVR assignment, which waits for its queue consumer).
    const activated = await handleHttp(
      request({
        method: 'PATCH',
        path: `/v1/tenants/${t}/screen-recording-certificates`,
        token: admin,
        json: { add: [json(upload).id] },
      }),
      context(),
    );
    expect(activated.status).toBe(200);
    const runtime = await runtimeFor(process.env);
    const queue = runtime.queueClient(QUEUE_NAMES.expiryNotifications);

    const firstRun = await handleExpiryTimer(timer, context('expiryScanDaily'));
    const first = (await drain<ExpiryNotificationMessage>(queue)).filter(
      (m) => m.notification.tenantId === t,
    );
    await handleExpiryTimer(timer, context('expiryScanDaily'));
    const second = (await drain<ExpiryNotificationMessage>(queue)).filter(
      (m) => m.notification.tenantId === t,
    );

    expect(firstRun.notifications).toBeGreaterThanOrEqual(1);
    expect(first).toEqual([
      {
        type: 'ExpiryNotification',
        notification: expect.objectContaining({
          certificateId: json(upload).id,
          kind: 'expiring',
          thresholdDays: 14,
          activeIn: { ivrProfiles: [], screenRecording: true },
          message: expect.stringContaining('the screen-recording set'),
        }),
      },
    ]);
    expect(second).toEqual([]);
  });
});

describe('JWT validation against a JWKS (RECCERT_AUTH_MODE=jwt)', () => {
  const issuer = 'https://login.reccert.test/';
  const audience = 'api://reccert';
  let jwksServer: Server;
  let signingKey: KeyLike;
  let serve: ReturnType<typeof httpFunction>;

  beforeAll(async () => {
    const keys = await generateKeyPair('RS256');
    signingKey = keys.privateKey as KeyLike;
    const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
    const { port } = jwksServer.address() as AddressInfo;
    const env = azuriteEnv({
      RECCERT_JWKS_URI: `http://127.0.0.1:${port}/keys`,
      RECCERT_JWT_ISSUER: issuer,
      RECCERT_JWT_AUDIENCE: audience,
    });
    const runtime = await runtimeFor(env);
    serve = httpFunction(async () => runtime);
  });

  afterAll(async () => {
    await new Promise((r) => jwksServer.close(r));
  });

  async function sign(
    claims: Record<string, unknown>,
    options: { iss?: string; aud?: string; key?: KeyLike | Uint8Array; alg?: string } = {},
  ): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: 'test-key' })
      .setSubject('jwt-user')
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? audience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(options.key ?? signingKey);
  }

  const list = (t: string, token: string) =>
    serve(request({ method: 'GET', path: `/v1/tenants/${t}/certificates`, token }), context());

  it('accepts a token signed by a JWKS key with the configured issuer and audience', async () => {
    const t = tenantId();
    const res = await list(t, await sign({ tenant: t, roles: ['decrypt'] }));
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({ items: [] });
  });

  it('refuses a wrong issuer, a wrong audience, a foreign key and an HMAC token with 401', async () => {
    const t = tenantId();
    const claims = { tenant: t, roles: ['admin'] };
    const stranger = (await generateKeyPair('RS256')).privateKey as KeyLike;
    for (const token of [
      await sign(claims, { iss: 'https://evil.test/' }),
      await sign(claims, { aud: 'api://other' }),
      await sign(claims, { key: stranger }),
      await sign(claims, { key: crypto.randomBytes(32), alg: 'HS256' }),
    ]) {
      const res = await list(t, token);
      expect(res.status).toBe(401);
      expect(json(res).error.code).toBe('UNAUTHORIZED');
      expect(header(res, 'www-authenticate')).toMatch(/^Bearer/);
    }
  });

  it('ignores an App Service principal header in jwt mode', async () => {
    const t = tenantId();
    const principal = Buffer.from(
      JSON.stringify({
        claims: [
          { typ: 'sub', val: 'x' },
          { typ: 'tenant', val: t },
          { typ: 'roles', val: 'admin' },
        ],
      }),
    ).toString('base64');
    const res = await serve(
      request({
        method: 'GET',
        path: `/v1/tenants/${t}/certificates`,
        headers: { 'x-ms-client-principal': principal },
      }),
      context(),
    );
    expect(res.status).toBe(401);
  });
});

describe('App Service authentication (RECCERT_AUTH_MODE=appservice)', () => {
  let serve: ReturnType<typeof httpFunction>;

  beforeAll(async () => {
    const runtime = await runtimeFor(azuriteEnv({ RECCERT_AUTH_MODE: 'appservice' }));
    serve = httpFunction(async () => runtime);
  });

  function principalHeader(claims: { typ: string; val: string }[]): string {
    return Buffer.from(
      JSON.stringify({
        auth_typ: 'aad',
        name_typ: 'name',
        role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
        claims,
      }),
    ).toString('base64');
  }

  it('takes the caller from x-ms-client-principal: subject, tenant and roles', async () => {
    const t = tenantId();
    const header = principalHeader([
      { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'oid-123' },
      { typ: 'tenant', val: t },
      { typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', val: 'decrypt' },
    ]);
    const read = await serve(
      request({
        method: 'GET',
        path: `/v1/tenants/${t}/certificates`,
        headers: { 'x-ms-client-principal': header },
      }),
      context(),
    );
    const write = await serve(
      request({
        method: 'PATCH',
        path: `/v1/tenants/${t}/screen-recording-certificates`,
        headers: { 'x-ms-client-principal': header },
        json: { add: ['x'] },
      }),
      context(),
    );

    expect(read.status).toBe(200);
    expect(write.status).toBe(403);
  });

  it('refuses a request without the header, or with a malformed one, with 401', async () => {
    const t = tenantId();
    for (const headers of [{}, { 'x-ms-client-principal': 'not base64 json' }] as Record<string, string>[]) {
      const res = await serve(
        request({ method: 'GET', path: `/v1/tenants/${t}/certificates`, headers }),
        context(),
      );
      expect(res.status).toBe(401);
      expect(json(res).error.code).toBe('UNAUTHORIZED');
    }
  });
});

describe('failures injected into the Azure services', () => {
  const secretFor = (env: NodeJS.ProcessEnv) => loadOrCreateTokenSecret(env.DATA_DIR!);

  async function uploadWith(runtime: AzureRuntime, env: NodeJS.ProcessEnv, t: string, p: TestPair) {
    const token = await mintLocalToken(secretFor(env), { tenants: [t], roles: ['admin'] });
    return httpFunction(async () => runtime)(
      request({
        method: 'POST',
        path: `/v1/tenants/${t}/certificates`,
        token,
        json: { certificate: p.certPem, privateKey: p.keyPem },
      }),
      context(),
    );
  }

  it('answers 503 with Retry-After when the Table write fails after the key was stored, and leaves no key behind', async () => {
    const env = azuriteEnv({ RECCERT_AUTH_MODE: 'local' });
    const runtime = await runtimeFor(env, {
      wrapTableClient: (client) =>
        client.tableName.endsWith('certificates')
          ? injectFault(client, 'createEntity', serviceError(503, { 'retry-after': '7' }), { sticky: true })
          : client,
    });
    const t = tenantId();

    const res = await uploadWith(runtime, env, t, pair());

    expect(res.status).toBe(503);
    expect(json(res).error.code).toBe('SERVICE_UNAVAILABLE');
    expect(header(res, 'retry-after')).toBe('7');
    const keysDir = path.join(env.DATA_DIR!, 'keys', t);
    const left = fs.existsSync(keysDir) ? fs.readdirSync(keysDir).filter((f) => f.endsWith('.key')) : [];
    expect(left).toEqual([]);
    expect(await runtime.deps.repo.listCertificates(t)).toEqual([]);
  });

  it('answers 503 with the vault’s Retry-After when Key Vault throttles the key import', async () => {
    const env = azuriteEnv({ RECCERT_AUTH_MODE: 'local' });
    // The `.invalid` host guarantees that a call which slipped past the injection reaches nothing.
    const credential: TokenCredential = {
      getToken: async (): Promise<AccessToken> => ({
        token: 'test-only',
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    };
    const keys = injectFault(
      new KeyClient('https://reccert-test.vault.invalid', credential, {
        serviceVersion: KEY_VAULT_SERVICE_VERSION,
      }),
      'importKey',
      serviceError(429, { 'retry-after': '11' }),
      { sticky: true },
    );
    const custody = new KeyVaultCustody(keys, (keyId) => new CryptographyClient(keyId, credential));
    const runtime = await runtimeFor(env, { custody });
    const t = tenantId();

    const res = await uploadWith(runtime, env, t, pair());

    expect(res.status).toBe(503);
    expect(header(res, 'retry-after')).toBe('11');
    expect(keys.calls()).toBe(1);
    expect(await runtime.deps.repo.listCertificates(t)).toEqual([]);
  });
});

describe('runtime settings', () => {
  it('refuses to start without a vault unless the file keystore is asked for, and any flow but azure', () => {
    const base = azuriteEnv({ RECCERT_AUTH_MODE: 'appservice' });
    const { RECCERT_KEY_CUSTODY: _unused, ...withoutCustody } = base;
    expect(() => readRuntimeConfig(withoutCustody)).toThrow('RECCERT_KEY_VAULT_URL is not set.');
    expect(() => readRuntimeConfig({ ...base, RECCERT_FLOW: 'aws' })).toThrow(/azure flow only/);
    expect(() => readRuntimeConfig({ ...base, RECCERT_AUTH_MODE: 'jwt' })).toThrow(/RECCERT_JWKS_URI/);
    expect(() =>
      readRuntimeConfig({
        ...base,
        RECCERT_AUTH_MODE: 'jwt',
        RECCERT_JWKS_URI: 'http://idp.example.test/keys',
        RECCERT_JWT_ISSUER: 'i',
        RECCERT_JWT_AUDIENCE: 'a',
      }),
    ).toThrow(/https/);
  });
});
