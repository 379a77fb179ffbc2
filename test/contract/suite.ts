/**
 * The HTTP contract of DESIGN section 4, as one suite every runtime must pass (local, AWS over
 * moto, Azure over Azurite with the file keystore in place of Key Vault). It talks HTTP only, so
 * it checks behaviour from the outside; each test uses its own tenant, so runtimes can keep state
 * between tests.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBackupBundle } from '../../shared/escrow/backup-bundle';
import { buildSelfSigned } from '../../shared/pki/builder';
import { createEncryptStream } from '../../shared/recording';
import { openssl, rsaKey } from '../helpers/pki';
import { forgedRecipient, regionsOf, withRecipientInfos } from '../recording/forge';
import type { Harness, RuntimeSpec } from './harness';
import { startRuntime } from './harness';

const DAY = 86_400_000;

export interface ApiResult {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  body: any;
  text: string;
}

export interface RequestOptions {
  token?: string;
  json?: unknown;
  form?: Record<string, string>;
  body?: string | Buffer;
  contentType?: string;
}

export function apiClient(baseUrl: () => string) {
  return async function api(method: string, path: string, options: RequestOptions = {}): Promise<ApiResult> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: RequestInit['body'];
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      const form = new FormData();
      for (const [name, value] of Object.entries(options.form)) {
        if (name === 'privateKeyPassword') form.append(name, value);
        else form.append(name, new Blob([value], { type: 'application/x-pem-file' }), `${name}.pem`);
      }
      body = form;
    } else if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : new Uint8Array(options.body);
      if (options.contentType) headers['content-type'] = options.contentType;
    }
    const response = await fetch(`${baseUrl()}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };
}

export interface Pair {
  key: KeyObject;
  keyPem: string;
  certPem: string;
}

/** A fresh RSA key and a self-signed certificate valid from yesterday for `days` days. */
export function freshPair(options: { days?: number; key?: KeyObject; cn?: string } = {}): Pair {
  const key = options.key ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const now = Date.now();
  const cert = buildSelfSigned(key, {
    subject: [
      ['CN', options.cn ?? `Recording ${randomUUID().slice(0, 8)}`],
      ['C', 'US'],
      ['ST', 'California'],
      ['O', 'Genesys'],
    ],
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + (options.days ?? 365) * DAY),
  });
  return { key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: cert.pem };
}

/** A CMS AuthEnvelopedData recording of `plaintext` for the given certificates (DER). */
export async function encryptRecording(plaintext: Buffer, certificatePems: string[]): Promise<Buffer> {
  const encryptor = createEncryptStream(certificatePems, { contentLength: plaintext.length });
  const chunks: Buffer[] = [];
  encryptor.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    encryptor.once('end', resolve);
    encryptor.once('error', reject);
  });
  encryptor.end(plaintext);
  await done;
  return Buffer.concat(chunks);
}

async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!done(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}

/** The origin every runtime of the contract suite serves by CORS (`RECCERT_CORS_ORIGINS`). */
export const CONTRACT_CORS_ORIGIN = 'http://admin.localhost:5173';

/** Declares the whole contract for one runtime. */
export function describeContract(spec: RuntimeSpec): void {
  describe(`HTTP API v1 contract on ${spec.name} (${spec.flow} flow)`, () => {
    let h: Harness;
    const api = apiClient(() => h.baseUrl);
    // Start-up may take its whole budget (#19: the hook's timeout was exactly that budget).
    const startMs = (spec.startTimeoutMs ?? 30_000) + 60_000;

    beforeAll(async () => {
      // Read here, after the runtime's own set-up (a getter in `spec.env` may need it).
      h = await startRuntime({ ...spec, env: { RECCERT_CORS_ORIGINS: CONTRACT_CORS_ORIGIN, ...spec.env } });
    }, startMs);

    afterAll(async () => {
      await h?.stop();
    });

    /** A new tenant and an admin+decrypt token for it. */
    async function tenant(roles: ('admin' | 'decrypt' | 'operator')[] = ['admin', 'decrypt']) {
      const id = `t-${randomUUID().slice(0, 12)}`;
      return { id, token: await h.token({ tenants: [id], roles }) };
    }

    async function upload(t: { id: string; token: string }, pair: Pair = freshPair()) {
      const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
        token: t.token,
        form: { certificate: pair.certPem, privateKey: pair.keyPem },
      });
      expect(res.status).toBe(201);
      const cert = res.body as { id: string; notAfter: string; alias: string; key?: string };
      if (h.flow === 'azure') {
        // The azure flow assigns every upload to the record profile; wait so tests start from a settled state.
        const applied = await eventually(
          () => api('GET', `/v1/tenants/${t.id}/ivr-profiles/record`, { token: t.token }),
          (r) => r.status === 200 && r.body.activeCertificateId === cert.id,
        );
        expect(applied.body.activeCertificateId).toBe(cert.id);
      }
      return cert;
    }

    async function assign(t: { id: string; token: string }, profile: string, certificateId: string) {
      const res = await api('PUT', `/v1/tenants/${t.id}/ivr-profiles/${profile}/recording-certificate`, {
        token: t.token,
        json: { certificateId },
      });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ requestId: expect.any(String), status: 'pending' });
      const applied = await eventually(
        () => api('GET', `/v1/tenants/${t.id}/ivr-profiles/${profile}`, { token: t.token }),
        (r) => r.status === 200 && r.body.activeCertificateId === certificateId,
      );
      expect(applied.body.activeCertificateId).toBe(certificateId);
      return applied.body;
    }

    describe('public routes', () => {
      it('GET /v1/health answers without a token', async () => {
        const res = await api('GET', '/v1/health');
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ status: 'ok', version: expect.any(String) });
      });

      it('GET /v1/openapi.json is an OpenAPI 3.1 document covering every route', async () => {
        const res = await api('GET', '/v1/openapi.json');
        expect(res.status).toBe(200);
        expect(res.body.openapi).toBe('3.1.0');
        for (const path of [
          '/v1/tenants/{tenantId}/certificates',
          '/v1/tenants/{tenantId}/certificates/preview',
          '/v1/tenants/{tenantId}/certificates/{certificateId}',
          '/v1/tenants/{tenantId}/certificates/{certificateId}/verify-key',
          '/v1/tenants/{tenantId}/ivr-profiles/{profileId}',
          '/v1/tenants/{tenantId}/ivr-profiles/{profileId}/recording-certificate',
          '/v1/tenants/{tenantId}/screen-recording-certificates',
          '/v1/tenants/{tenantId}/notifications',
          '/v1/tenants/{tenantId}/audit',
          '/v1/expiry-scan',
          '/v1/tenants/{tenantId}/recordings/decrypt',
        ]) {
          expect(res.body.paths[path]).toBeDefined();
        }
        expect(res.body.components.schemas.Certificate.properties.fingerprintSha256).toBeDefined();
      });

      it('answers an unknown route with 404 NOT_FOUND and a wrong method with 405', async () => {
        expect((await api('GET', '/v1/nothing-here')).body.error.code).toBe('NOT_FOUND');
        const t = await tenant();
        const res = await api('PUT', `/v1/tenants/${t.id}/certificates`, { token: t.token, json: {} });
        expect(res.status).toBe(405);
        expect(res.body.error.code).toBe('METHOD_NOT_ALLOWED');
      });
    });

    describe('CORS and request ids', () => {
      const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      const preflight = (path: string, origin: string) =>
        fetch(`${h.baseUrl}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, content-type, x-request-id',
          },
        });

      it('answers a preflight from an allowed origin without a token', async () => {
        const res = await preflight('/v1/tenants/acme/certificates', CONTRACT_CORS_ORIGIN);
        expect(res.status).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe(CONTRACT_CORS_ORIGIN);
        const methods = (res.headers.get('access-control-allow-methods') ?? '').split(/,\s*/);
        expect(methods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
        const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
        for (const name of ['authorization', 'content-type', 'x-request-id']) expect(allowed).toContain(name);
        expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
        expect(res.headers.get('vary') ?? '').toMatch(/origin/i);
      });

      it('gives a preflight from another origin no allow headers', async () => {
        const res = await preflight('/v1/tenants/acme/certificates', 'https://evil.example.com');
        expect(res.status).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBeNull();
        expect(res.headers.get('access-control-allow-methods')).toBeNull();
        expect(res.headers.get('access-control-allow-headers')).toBeNull();
      });

      it('marks an actual response for an allowed origin, echoing it and exposing Location and X-Request-Id', async () => {
        const t = await tenant();
        const res = await fetch(`${h.baseUrl}/v1/tenants/${t.id}/certificates`, {
          headers: { origin: CONTRACT_CORS_ORIGIN, authorization: `Bearer ${t.token}` },
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBe(CONTRACT_CORS_ORIGIN);
        const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
        expect(exposed).toContain('location');
        expect(exposed).toContain('x-request-id');
        const other = await fetch(`${h.baseUrl}/v1/health`, {
          headers: { origin: 'https://evil.example.com' },
        });
        expect(other.status).toBe(200);
        expect(other.headers.get('access-control-allow-origin')).toBeNull();
      });

      it("echoes a caller's X-Request-Id, on errors too", async () => {
        const id = `contract-${randomUUID()}`;
        const ok = await fetch(`${h.baseUrl}/v1/health`, { headers: { 'x-request-id': id } });
        expect(ok.headers.get('x-request-id')).toBe(id);
        const missing = await fetch(`${h.baseUrl}/v1/nothing-here`, {
          headers: { 'x-request-id': `${id}-404` },
        });
        expect(missing.status).toBe(404);
        expect(missing.headers.get('x-request-id')).toBe(`${id}-404`);
      });

      it('generates an X-Request-Id when none is sent', async () => {
        const a = await fetch(`${h.baseUrl}/v1/health`);
        const b = await fetch(`${h.baseUrl}/v1/health`);
        expect(a.headers.get('x-request-id')).toMatch(UUID);
        expect(b.headers.get('x-request-id')).toMatch(UUID);
        expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
      });

      it('replaces a hostile X-Request-Id with a new one', async () => {
        for (const hostile of ['a b<script>', 'x'.repeat(200), '"},"level":"error']) {
          const res = await fetch(`${h.baseUrl}/v1/health`, { headers: { 'x-request-id': hostile } });
          expect(res.status).toBe(200);
          expect(res.headers.get('x-request-id')).toMatch(UUID);
        }
      });

      it('puts the request id (and the platform invocation id) on every log line of the request', async () => {
        const id = `scan-${randomUUID()}`;
        const operator = await h.token({ roles: ['operator'] });
        const res = await fetch(`${h.baseUrl}/v1/expiry-scan`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${operator}`,
            'content-type': 'application/json',
            'x-request-id': id,
          },
          body: '{}',
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('x-request-id')).toBe(id);
        const lines = await eventually(
          async () =>
            h
              .output()
              .split('\n')
              .filter((line) => line.includes(id) && line.trim().endsWith('}'))
              .map((line) => JSON.parse(line) as Record<string, unknown>),
          (found) => found.some((l) => l.message === 'request'),
        );
        // The use case's own line and the handler's, both stamped with the id.
        expect(lines.map((l) => l.message)).toEqual(
          expect.arrayContaining(['expiry scan finished', 'request']),
        );
        for (const line of lines) {
          expect(line.requestId).toBe(id);
          if (spec.name === 'aws') expect(line.awsRequestId).toEqual(expect.any(String));
          if (spec.name === 'azure') expect(line.invocationId).toEqual(expect.any(String));
        }
      });
    });

    describe('authentication and authorization', () => {
      it('refuses a missing, badly signed or expired token with 401 UNAUTHORIZED', async () => {
        const t = await tenant();
        const path = `/v1/tenants/${t.id}/certificates`;
        for (const token of [
          undefined,
          'not-a-jwt',
          await h.token({ tenants: [t.id], defect: 'bad-signature' }),
          await h.token({ tenants: [t.id], defect: 'expired' }),
        ]) {
          const res = await api('GET', path, token ? { token } : {});
          expect(res.status).toBe(401);
          expect(res.body.error.code).toBe('UNAUTHORIZED');
        }
      });

      it("refuses another tenant's data with 403 FORBIDDEN", async () => {
        const a = await tenant();
        const b = await tenant();
        const cert = await upload(a);
        for (const [method, path] of [
          ['GET', `/v1/tenants/${a.id}/certificates`],
          ['GET', `/v1/tenants/${a.id}/certificates/${cert.id}`],
          ['DELETE', `/v1/tenants/${a.id}/certificates/${cert.id}`],
          ['GET', `/v1/tenants/${a.id}/audit`],
        ] as const) {
          const res = await api(method, path, { token: b.token });
          expect(res.status).toBe(403);
          expect(res.body.error.code).toBe('FORBIDDEN');
        }
        const own = await api('GET', `/v1/tenants/${b.id}/certificates`, { token: b.token });
        expect(own.body.items).toEqual([]);
        const missing = await api('GET', `/v1/tenants/${b.id}/certificates/${cert.id}`, { token: b.token });
        expect(missing.status).toBe(404);
      });

      it('lets the decrypt role read but not change, and keeps operators out of tenants', async () => {
        const admin = await tenant();
        const reader = { id: admin.id, token: await h.token({ tenants: [admin.id], roles: ['decrypt'] }) };
        const operator = { id: admin.id, token: await h.token({ tenants: [admin.id], roles: ['operator'] }) };
        const cert = await upload(admin);
        expect(
          (await api('GET', `/v1/tenants/${admin.id}/certificates/${cert.id}`, { token: reader.token }))
            .status,
        ).toBe(200);
        const pair = freshPair();
        const write = await api('POST', `/v1/tenants/${admin.id}/certificates`, {
          token: reader.token,
          form: { certificate: pair.certPem, privateKey: pair.keyPem },
        });
        expect(write.status).toBe(403);
        expect(
          (await api('DELETE', `/v1/tenants/${admin.id}/certificates/${cert.id}`, { token: reader.token }))
            .status,
        ).toBe(403);
        expect(
          (await api('GET', `/v1/tenants/${admin.id}/certificates`, { token: operator.token })).status,
        ).toBe(403);
        expect((await api('POST', '/v1/expiry-scan', { token: admin.token, json: {} })).status).toBe(403);
      });

      it('accepts a token listing several tenants in `tenants`', async () => {
        const a = `t-${randomUUID().slice(0, 12)}`;
        const b = `t-${randomUUID().slice(0, 12)}`;
        const token = await h.token({ tenants: [a, b], roles: ['decrypt'] });
        expect((await api('GET', `/v1/tenants/${a}/certificates`, { token })).status).toBe(200);
        expect((await api('GET', `/v1/tenants/${b}/certificates`, { token })).status).toBe(200);
      });

      it('regression #11: refuses a token without exp, with iat ahead, or with claims of the wrong type', async () => {
        // Imported here so that this block's tests stay self-contained in the shared suite file.
        const { SignJWT } = await import('jose');
        const { LOCAL_AUDIENCE, LOCAL_ISSUER, loadOrCreateTokenSecret } = await import(
          '../../functions/common/local-tokens'
        );
        const secret = loadOrCreateTokenSecret(h.dataDir);
        const t = `t-${randomUUID().slice(0, 12)}`;
        const now = Math.floor(Date.now() / 1000);
        const sign = (claims: Record<string, unknown>) =>
          new SignJWT({ sub: 'claims-test', ...claims })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .setIssuer(LOCAL_ISSUER)
            .setAudience(LOCAL_AUDIENCE)
            .sign(secret);
        const hostile: Record<string, Record<string, unknown>> = {
          'no exp': { tenant: t, roles: ['admin'], iat: now },
          'iat 2 minutes ahead': { tenant: t, roles: ['admin'], iat: now + 120, exp: now + 600 },
          'nbf 2 minutes ahead': { tenant: t, roles: ['admin'], nbf: now + 120, exp: now + 600 },
          'tenants as a string': { tenants: `${t} other`, roles: ['admin'], exp: now + 600 },
          'roles as a string': { tenant: t, roles: 'admin', exp: now + 600 },
          'tenant as an array': { tenant: [t], roles: ['admin'], exp: now + 600 },
        };

        const statuses: Record<string, number> = {};
        for (const [name, claims] of Object.entries(hostile)) {
          const res = await api('GET', `/v1/tenants/${t}/certificates`, { token: await sign(claims) });
          statuses[name] = res.status;
        }
        const accepted = await api('GET', `/v1/tenants/${t}/certificates`, {
          token: await sign({ tenants: [t], roles: ['decrypt'], iat: now + 30, exp: now + 600 }),
        });

        expect(statuses).toEqual(Object.fromEntries(Object.keys(hostile).map((name) => [name, 401])));
        expect(accepted.status).toBe(200);
      });

      it('regression #13: answers a request for another Host (DNS rebinding) with 421 MISDIRECTED_REQUEST', async () => {
        const { request } = await import('node:http');
        const t = await tenant();
        const { port } = new URL(h.baseUrl);
        const get = (path: string, host: string, token?: string) =>
          new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = request(
              {
                host: '127.0.0.1',
                port,
                path,
                headers: { host, ...(token ? { authorization: `Bearer ${token}` } : {}) },
              },
              (res) => {
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (c: string) => {
                  body += c;
                });
                res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
              },
            );
            req.on('error', reject);
            req.end();
          });

        const foreign = await Promise.all([
          get('/v1/health', 'attacker.example'),
          get(`/v1/tenants/${t.id}/certificates`, `attacker.example:${port}`, t.token),
        ]);
        const own = await get(`/v1/tenants/${t.id}/certificates`, `localhost:${port}`, t.token);

        expect(foreign.map((r) => r.status)).toEqual([421, 421]);
        expect(JSON.parse(foreign[1]!.body).error.code).toBe('MISDIRECTED_REQUEST');
        expect(own.status).toBe(200);
      });
    });

    describe('preview and upload', () => {
      it('previews a certificate without storing it', async () => {
        const t = await tenant();
        const pair = freshPair({ cn: 'Genesys Recording' });
        const res = await api('POST', `/v1/tenants/${t.id}/certificates/preview`, {
          token: t.token,
          form: { certificate: pair.certPem, privateKey: pair.keyPem },
        });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          subjectName: 'Genesys Recording',
          subjectDN: 'O=Genesys,ST=California,C=US,CN=Genesys Recording',
          keyAlgorithm: 'RSA',
          keySize: 2048,
          selfSigned: true,
          warnings: [],
        });
        expect(res.body.serialNumber).toMatch(/^[0-9A-F]+$/);
        const list = await api('GET', `/v1/tenants/${t.id}/certificates`, { token: t.token });
        expect(list.body.items).toEqual([]);
      });

      it('previews a certificate alone (the key is optional there)', async () => {
        const t = await tenant();
        const res = await api('POST', `/v1/tenants/${t.id}/certificates/preview`, {
          token: t.token,
          json: { certificate: freshPair().certPem },
        });
        expect(res.status).toBe(200);
      });

      it('uploads multipart and returns 201 with Location and the certificate object, no key bytes', async () => {
        const t = await tenant();
        const pair = freshPair();
        const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
          token: t.token,
          form: { certificate: pair.certPem, privateKey: pair.keyPem, privateKeyPassword: '' },
        });
        expect(res.status).toBe(201);
        expect(res.headers.get('location')).toBe(`/v1/tenants/${t.id}/certificates/${res.body.id}`);
        expect(res.body).toMatchObject({
          tenantId: t.id,
          status: 'active',
          uploadedBy: 'contract-admin',
          screenRecording: false,
          keyAlgorithm: 'RSA',
        });
        expect(res.body.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
        expect(res.text).not.toContain('PRIVATE KEY');
        expect(res.text).not.toContain(pair.keyPem.split('\n')[1]);
        const got = await api('GET', `/v1/tenants/${t.id}/certificates/${res.body.id}`, { token: t.token });
        expect(got.status).toBe(200);
        expect(got.body.fingerprintSha256).toBe(res.body.fingerprintSha256);
      });

      it('uploads JSON, and refuses the same certificate twice with 409 CERTIFICATE_EXISTS', async () => {
        const t = await tenant();
        const pair = freshPair();
        const first = await api('POST', `/v1/tenants/${t.id}/certificates`, {
          token: t.token,
          json: { certificate: pair.certPem, privateKey: pair.keyPem },
        });
        expect(first.status).toBe(201);
        const again = await api('POST', `/v1/tenants/${t.id}/certificates`, {
          token: t.token,
          json: { certificate: pair.certPem, privateKey: pair.keyPem },
        });
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe('CERTIFICATE_EXISTS');
      });

      it('refuses bodies over 64 KiB with 413 PAYLOAD_TOO_LARGE', async () => {
        const t = await tenant();
        const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
          token: t.token,
          json: { certificate: 'x'.repeat(70 * 1024) },
        });
        expect(res.status).toBe(413);
        expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
      });

      it('refuses other content types with 415 and malformed bodies with 400 VALIDATION_ERROR', async () => {
        const t = await tenant();
        const path = `/v1/tenants/${t.id}/certificates`;
        const text = await api('POST', path, { token: t.token, body: 'hello', contentType: 'text/plain' });
        expect(text.status).toBe(415);
        expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        const broken = await api('POST', path, {
          token: t.token,
          body: '{"certificate":',
          contentType: 'application/json',
        });
        expect(broken.status).toBe(400);
        expect(broken.body.error.code).toBe('VALIDATION_ERROR');
        const wrongType = await api('POST', path, { token: t.token, json: { certificate: 42 } });
        expect(wrongType.status).toBe(400);
        expect(wrongType.body.error.code).toBe('VALIDATION_ERROR');
      });

      it.each([
        ['INVALID_PEM', () => ({ certificate: 'garbage', privateKey: freshPair().keyPem })],
        ['NOT_A_CERTIFICATE', () => ({ certificate: freshPair().keyPem, privateKey: freshPair().keyPem })],
        [
          'MULTIPLE_CERTIFICATES',
          () => {
            const a = freshPair({ key: rsaKey('contract-a') });
            const b = freshPair({ key: rsaKey('contract-b') });
            return { certificate: a.certPem + b.certPem, privateKey: a.keyPem };
          },
        ],
        ['PRIVATE_KEY_REQUIRED', () => ({ certificate: freshPair().certPem })],
        [
          'KEY_MISMATCH',
          () => ({
            certificate: freshPair({ key: rsaKey('contract-a') }).certPem,
            privateKey: rsaKey('contract-b').export({ type: 'pkcs8', format: 'pem' }).toString(),
          }),
        ],
        ['INVALID_PRIVATE_KEY', () => ({ certificate: freshPair().certPem, privateKey: 'not a key' })],
        [
          'KEY_TOO_SMALL',
          () => {
            const small = freshPair({ key: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey });
            return { certificate: small.certPem, privateKey: small.keyPem };
          },
        ],
        [
          'UNSUPPORTED_KEY_ALGORITHM',
          () => {
            const ec = freshPair({ key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey });
            return { certificate: ec.certPem, privateKey: ec.keyPem };
          },
        ],
        [
          'PRIVATE_KEY_ENCRYPTED',
          () => {
            const p = freshPair({ key: rsaKey('contract-a') });
            return {
              certificate: p.certPem,
              privateKey: p.key
                .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right' })
                .toString(),
              privateKeyPassword: 'wrong',
            };
          },
        ],
      ])('refuses an upload with 400 %s', async (code, body) => {
        const t = await tenant();
        const res = await api('POST', `/v1/tenants/${t.id}/certificates`, { token: t.token, json: body() });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe(code);
        expect(res.body.error.message.length).toBeGreaterThan(10);
        expect(res.text).not.toMatch(/at .*\.ts:\d+/);
        const list = await api('GET', `/v1/tenants/${t.id}/certificates`, { token: t.token });
        expect(list.body.items).toEqual([]);
      });

      it('accepts an encrypted PKCS#8 key with its password and warns EXPIRES_SOON within 30 days', async () => {
        const t = await tenant();
        const pair = freshPair({ days: 12 });
        const encrypted = pair.key
          .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
          .toString();
        if (h.flow === 'azure') return; // the azure flow checks its own key rules below
        const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
          token: t.token,
          form: { certificate: pair.certPem, privateKey: encrypted, privateKeyPassword: 'pw' },
        });
        expect(res.status).toBe(201);
        expect(res.body.status).toBe('expiring');
        expect(res.body.warnings.map((w: { code: string }) => w.code)).toContain('EXPIRES_SOON');
      });
    });

    describe('list, get, verify-key', () => {
      it('lists with a status filter and pages with a cursor', async () => {
        const t = await tenant();
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await upload(t)).id);
        const soon = await upload(t, freshPair({ days: 5 }));
        const page1 = await api('GET', `/v1/tenants/${t.id}/certificates?limit=2`, { token: t.token });
        expect(page1.body.items).toHaveLength(2);
        expect(page1.body.nextCursor).toEqual(expect.any(String));
        const page2 = await api(
          'GET',
          `/v1/tenants/${t.id}/certificates?limit=2&cursor=${page1.body.nextCursor}`,
          {
            token: t.token,
          },
        );
        const all = [...page1.body.items, ...page2.body.items].map((c: { id: string }) => c.id);
        expect(new Set(all)).toEqual(new Set([...ids, soon.id]));
        expect(page2.body.nextCursor).toBeUndefined();
        const expiring = await api('GET', `/v1/tenants/${t.id}/certificates?status=expiring`, {
          token: t.token,
        });
        expect(expiring.body.items.map((c: { id: string }) => c.id)).toEqual([soon.id]);
        const bad = await api('GET', `/v1/tenants/${t.id}/certificates?status=bogus`, { token: t.token });
        expect(bad.status).toBe(400);
        expect(bad.body.error.code).toBe('VALIDATION_ERROR');
      });

      it('walks every list with nextCursor, and refuses a malformed or foreign cursor with 400', async () => {
        const t = await tenant();
        const other = await tenant();
        const ids = new Set<string>();
        for (let i = 0; i < 3; i++) ids.add((await upload(t)).id);
        await upload(other);
        for (const list of ['certificates', 'notifications', 'audit']) {
          const seen: unknown[] = [];
          let cursor: string | undefined;
          for (let reads = 0; reads < 20; reads++) {
            const query = cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`;
            const res = await api('GET', `/v1/tenants/${t.id}/${list}?limit=1${query}`, { token: t.token });
            expect(res.status).toBe(200);
            expect(res.body.items.length).toBeLessThanOrEqual(1);
            seen.push(...res.body.items);
            cursor = res.body.nextCursor;
            if (cursor === undefined) break;
          }
          expect(cursor).toBeUndefined();
          if (list === 'certificates')
            expect(new Set(seen.map((c) => (c as { id: string }).id))).toEqual(ids);
          if (list === 'audit') expect(seen.length).toBeGreaterThanOrEqual(3);
        }
        const first = await api('GET', `/v1/tenants/${t.id}/certificates?limit=1`, { token: t.token });
        const mine = first.body.nextCursor as string;
        const otherTenant = await api('GET', `/v1/tenants/${other.id}/certificates?limit=1&cursor=${mine}`, {
          token: other.token,
        });
        const otherList = await api('GET', `/v1/tenants/${t.id}/audit?cursor=${mine}`, { token: t.token });
        const otherFilter = await api(
          'GET',
          `/v1/tenants/${t.id}/certificates?status=expired&cursor=${mine}`,
          {
            token: t.token,
          },
        );
        for (const res of [otherTenant, otherList, otherFilter]) {
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('VALIDATION_ERROR');
        }
        const forged = (p: unknown) =>
          Buffer.from(JSON.stringify({ t: t.id, l: 'audit', p })).toString('base64url');
        for (const cursor of ['x', '%%%', 'e30', forged('{'), forged('z'.repeat(600)), forged(42)]) {
          for (const list of ['certificates', 'notifications', 'audit']) {
            const res = await api('GET', `/v1/tenants/${t.id}/${list}?cursor=${encodeURIComponent(cursor)}`, {
              token: t.token,
            });
            expect([200, 400]).toContain(res.status);
            if (res.status === 400) expect(res.body.error.code).toBe('VALIDATION_ERROR');
          }
        }
      });

      it('answers an unknown certificate with 404 NOT_FOUND', async () => {
        const t = await tenant();
        const res = await api('GET', `/v1/tenants/${t.id}/certificates/${'0'.repeat(32)}`, {
          token: t.token,
        });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      });

      it('tells whether a key belongs to a certificate, without storing it', async () => {
        const t = await tenant();
        const pair = freshPair();
        const cert = await upload(t, pair);
        const path = `/v1/tenants/${t.id}/certificates/${cert.id}/verify-key`;
        const yes = await api('POST', path, { token: t.token, form: { privateKey: pair.keyPem } });
        expect(yes.status).toBe(200);
        expect(yes.body).toEqual({ matches: true });
        const no = await api('POST', path, { token: t.token, json: { privateKey: freshPair().keyPem } });
        expect(no.body).toEqual({ matches: false });
        const bad = await api('POST', path, { token: t.token, json: { privateKey: 'nope' } });
        expect(bad.status).toBe(400);
        expect(bad.body.error.code).toBe('INVALID_PRIVATE_KEY');
        const none = await api('POST', path, { token: t.token, json: {} });
        expect(none.body.error.code).toBe('PRIVATE_KEY_REQUIRED');
      });
    });

    describe('IVR profile assignment', () => {
      it('answers 404 for a profile before its first assignment, then applies assignments through events', async () => {
        const t = await tenant();
        expect(
          (await api('GET', `/v1/tenants/${t.id}/ivr-profiles/support`, { token: t.token })).status,
        ).toBe(404);
        const first = await upload(t);
        await assign(t, 'support', first.id);
        const second = await upload(t);
        const profile = await assign(t, 'support', second.id);
        expect(profile).toMatchObject({
          id: 'support',
          activeCertificateId: second.id,
          previousCertificateIds: [first.id],
        });
        const old = await api('GET', `/v1/tenants/${t.id}/certificates/${first.id}`, { token: t.token });
        expect(old.body.status).toBe('retired');
        expect(old.body.ivrProfiles).toEqual([]);
        const current = await api('GET', `/v1/tenants/${t.id}/certificates/${second.id}`, { token: t.token });
        expect(current.body.ivrProfiles).toEqual(h.flow === 'azure' ? ['record', 'support'] : ['support']);
      });

      it('refuses a retired certificate with 409 CERTIFICATE_NOT_USABLE and an unknown one with 404', async () => {
        const t = await tenant();
        const first = await upload(t);
        await assign(t, 'support', first.id);
        const second = await upload(t);
        await assign(t, 'support', second.id);
        const retired = await api('PUT', `/v1/tenants/${t.id}/ivr-profiles/support/recording-certificate`, {
          token: t.token,
          json: { certificateId: first.id },
        });
        expect(retired.status).toBe(409);
        expect(retired.body.error.code).toBe('CERTIFICATE_NOT_USABLE');
        const unknown = await api('PUT', `/v1/tenants/${t.id}/ivr-profiles/support/recording-certificate`, {
          token: t.token,
          json: { certificateId: 'f'.repeat(32) },
        });
        expect(unknown.status).toBe(404);
        const malformed = await api('PUT', `/v1/tenants/${t.id}/ivr-profiles/support/recording-certificate`, {
          token: t.token,
          json: {},
        });
        expect(malformed.status).toBe(400);
        expect(malformed.body.error.code).toBe('VALIDATION_ERROR');
      });

      it('regression #8: a profile named constructor or toString is 404 until assigned, then applied by the consumer and read back', async () => {
        const t = await tenant();
        const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf'];
        for (const name of names) {
          const res = await api('GET', `/v1/tenants/${t.id}/ivr-profiles/${name}`, { token: t.token });
          expect(res.status).toBe(404);
          expect(res.body.error.code).toBe('NOT_FOUND');
        }
        // Not a valid profile id by the schema (it starts with '_'), and never the prototype's {}.
        const proto = await api('GET', `/v1/tenants/${t.id}/ivr-profiles/__proto__`, { token: t.token });
        expect(['VALIDATION_ERROR', 'NOT_FOUND']).toContain(proto.body.error.code);
        const cert = await upload(t);

        for (const name of names) {
          const profile = await assign(t, name, cert.id);
          expect(profile).toMatchObject({
            id: name,
            activeCertificateId: cert.id,
            previousCertificateIds: [],
          });
        }

        const view = await api('GET', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token });
        expect(view.body.ivrProfiles).toEqual([...names, ...(h.flow === 'azure' ? ['record'] : [])].sort());
      });

      it('regression #8: a tenant named constructor or hasOwnProperty behaves like any tenant', async () => {
        for (const id of ['constructor', 'hasOwnProperty']) {
          const own = { id, token: await h.token({ tenants: [id], roles: ['admin', 'decrypt'] }) };
          const other = await h.token({
            tenants: [`t-${randomUUID().slice(0, 12)}`],
            roles: ['admin', 'decrypt'],
          });

          const refused = await api('GET', `/v1/tenants/${id}/certificates`, { token: other });
          expect(refused.status).toBe(403);
          expect(refused.body.error.code).toBe('FORBIDDEN');
          const cert = await upload(own);
          const profile = `p-${randomUUID().slice(0, 8)}`;
          await assign(own, profile, cert.id);

          const listed = await api('GET', `/v1/tenants/${id}/certificates`, { token: own.token });
          expect(listed.status).toBe(200);
          expect(listed.body.items.map((c: { id: string }) => c.id)).toContain(cert.id);
          const got = await api('GET', `/v1/tenants/${id}/ivr-profiles/${profile}`, { token: other });
          expect(got.status).toBe(403);
        }
      });
    });

    describe('guarded delete', () => {
      if (spec.flow === 'aws') {
        it('deletes a never-assigned certificate', async () => {
          const t = await tenant();
          const cert = await upload(t);
          const res = await api('DELETE', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token });
          expect(res.status).toBe(204);
          expect(
            (await api('GET', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token })).status,
          ).toBe(404);
          expect(
            (await api('DELETE', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token })).status,
          ).toBe(404);
        });
      }

      it('refuses an assigned certificate even with force, and keeps a replaced one unless forced', async () => {
        const t = await tenant();
        const first = await upload(t);
        await assign(t, 'support', first.id);
        for (const query of ['', '?force=true']) {
          const inUse = await api('DELETE', `/v1/tenants/${t.id}/certificates/${first.id}${query}`, {
            token: t.token,
          });
          expect(inUse.status).toBe(409);
          expect(inUse.body.error.code).toBe('CERTIFICATE_IN_USE');
          expect(inUse.body.error.message).toContain('support');
        }
        const second = await upload(t);
        await assign(t, 'support', second.id);
        const retained = await api('DELETE', `/v1/tenants/${t.id}/certificates/${first.id}`, {
          token: t.token,
        });
        expect(retained.status).toBe(409);
        expect(retained.body.error.code).toBe('CERTIFICATE_RETAINED');
        const forced = await api('DELETE', `/v1/tenants/${t.id}/certificates/${first.id}?force=true`, {
          token: t.token,
        });
        expect(forced.status).toBe(204);
        expect(
          (await api('GET', `/v1/tenants/${t.id}/certificates/${first.id}`, { token: t.token })).status,
        ).toBe(404);
        const audit = await api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token });
        const deletion = audit.body.items.find(
          (e: { action: string; certificateId?: string }) =>
            e.action === 'certificate.delete' && e.certificateId === first.id,
        );
        expect(deletion.details.forced).toBe(true);
      });

      it('regression #16: refuses to delete a certificate whose requested assignment may still be pending', async () => {
        const t = await tenant();
        const cert = await upload(t);
        const requested = await api('PUT', `/v1/tenants/${t.id}/ivr-profiles/pending/recording-certificate`, {
          token: t.token,
          json: { certificateId: cert.id },
        });
        expect(requested.status).toBe(202);

        // Pending or already applied, the certificate is in use either way: never 204.
        const res = await api('DELETE', `/v1/tenants/${t.id}/certificates/${cert.id}?force=true`, {
          token: t.token,
        });

        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('CERTIFICATE_IN_USE');
        const applied = await eventually(
          () => api('GET', `/v1/tenants/${t.id}/ivr-profiles/pending`, { token: t.token }),
          (r) => r.status === 200,
        );
        expect(applied.body.activeCertificateId).toBe(cert.id);
        expect(
          (await api('GET', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token })).status,
        ).toBe(200);
      });
    });

    describe('screen-recording certificates', () => {
      it('starts empty and refuses changes before the tenant has a recording certificate', async () => {
        const t = await tenant();
        const initial = await api('GET', `/v1/tenants/${t.id}/screen-recording-certificates`, {
          token: t.token,
        });
        expect(initial.body).toEqual({ certificateIds: [], encryptionEnabled: false });
        const res = await api('PATCH', `/v1/tenants/${t.id}/screen-recording-certificates`, {
          token: t.token,
          json: { add: ['a'.repeat(32)] },
        });
        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('NO_RECORDING_CERTIFICATE');
      });

      it('applies a change set atomically and asks before turning encryption off', async () => {
        const t = await tenant();
        const path = `/v1/tenants/${t.id}/screen-recording-certificates`;
        const a = await upload(t);
        expect((await api('PATCH', path, { token: t.token, json: { add: [a.id] } })).status).toBe(200);
        const b = await upload(t);
        const added = await api('PATCH', path, { token: t.token, json: { add: [b.id] } });
        expect(added.status).toBe(200);
        expect(added.body).toEqual({ certificateIds: [a.id, b.id], encryptionEnabled: true });
        const cert = await api('GET', `/v1/tenants/${t.id}/certificates/${a.id}`, { token: t.token });
        expect(cert.body.screenRecording).toBe(true);

        const failing = await api('PATCH', path, {
          token: t.token,
          json: { remove: [a.id], add: ['e'.repeat(32)] },
        });
        expect(failing.status).toBe(404);
        expect((await api('GET', path, { token: t.token })).body.certificateIds).toEqual([a.id, b.id]);

        const removeAll = await api('PATCH', path, { token: t.token, json: { remove: [a.id, b.id] } });
        expect(removeAll.status).toBe(409);
        expect(removeAll.body.error.code).toBe('ENCRYPTION_WOULD_BE_DISABLED');
        expect((await api('GET', path, { token: t.token })).body.encryptionEnabled).toBe(true);

        const confirmed = await api('PATCH', path, {
          token: t.token,
          json: { remove: [a.id, b.id], confirmDisableEncryption: true },
        });
        expect(confirmed.body).toEqual({ certificateIds: [], encryptionEnabled: false });
        const after = await api('GET', `/v1/tenants/${t.id}/certificates/${a.id}`, { token: t.token });
        expect(after.body.screenRecording).toBe(false);
        const retained = await api('DELETE', `/v1/tenants/${t.id}/certificates/${a.id}`, { token: t.token });
        expect(retained.body.error.code).toBe('CERTIFICATE_RETAINED');
      });

      it('regression #8: keeps the screen-recording set of a tenant named valueOf like any other', async () => {
        const t = {
          id: 'valueOf',
          token: await h.token({ tenants: ['valueOf'], roles: ['admin', 'decrypt'] }),
        };
        const path = `/v1/tenants/${t.id}/screen-recording-certificates`;
        const cert = await upload(t);

        const added = await api('PATCH', path, { token: t.token, json: { add: [cert.id] } });

        expect(added.status).toBe(200);
        expect(added.body.certificateIds).toContain(cert.id);
        expect((await api('GET', path, { token: t.token })).body.certificateIds).toContain(cert.id);
        const view = await api('GET', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token });
        expect(view.body.screenRecording).toBe(true);
      });
    });

    describe('expiry scan and notifications', () => {
      it('notifies the most urgent threshold once per certificate, then the expiry', async () => {
        // A scan runs as of now or a past time (regression #12), so the certificates' own dates
        // place them past the thresholds: 200 days, 10 days, and 15 seconds left.
        const operator = await h.token({ roles: ['operator'], subject: 'ops' });
        const activeCertificate = async (days: number) => {
          const t = await tenant();
          const cert = await upload(t, freshPair({ days }));
          // Notices are about certificates in use (rule 14); the azure flow assigns on upload.
          if (h.flow === 'aws') await assign(t, 'record', cert.id);
          return { t, cert };
        };
        const far = await activeCertificate(200);
        const soon = await activeCertificate(10);
        const brief = await activeCertificate(15 / 86_400);
        const scan = (now?: Date) =>
          api('POST', '/v1/expiry-scan', { token: operator, json: now ? { now: now.toISOString() } : {} });
        const mine = (r: { body: { notifications: { certificateId: string }[] } }, id: string) =>
          r.body.notifications.filter((n) => n.certificateId === id);

        const first = await scan();
        const again = await Promise.all([scan(), scan(new Date(Date.now() - DAY))]);
        await new Promise((r) =>
          setTimeout(r, Math.max(0, Date.parse(brief.cert.notAfter) - Date.now() + 1_000)),
        );
        const later = await scan();
        const list = await api('GET', `/v1/tenants/${brief.t.id}/notifications`, { token: brief.t.token });

        expect(first.status).toBe(200);
        expect(first.body.scanned).toBeGreaterThanOrEqual(2);
        expect(mine(first, far.cert.id)).toEqual([]);
        expect(mine(first, soon.cert.id)).toEqual([
          expect.objectContaining({
            tenantId: soon.t.id,
            certificateId: soon.cert.id,
            kind: 'expiring',
            thresholdDays: 14,
          }),
        ]);
        expect(mine(first, brief.cert.id)).toEqual([
          expect.objectContaining({ kind: 'expiring', thresholdDays: 1 }),
        ]);
        expect(again.flatMap((r) => [...mine(r, soon.cert.id), ...mine(r, brief.cert.id)])).toEqual([]);
        expect(mine(later, brief.cert.id)).toEqual([
          expect.objectContaining({ kind: 'expired', thresholdDays: 0 }),
        ]);
        expect(list.status).toBe(200);
        expect(
          list.body.items.map((n: { kind: string; thresholdDays: number }) => [n.kind, n.thresholdDays]),
        ).toEqual([
          ['expired', 0],
          ['expiring', 1],
        ]);
        expect(list.body.items[0]).toEqual({
          certificateId: brief.cert.id,
          kind: 'expired',
          thresholdDays: 0,
          notAfter: brief.cert.notAfter,
          createdAt: expect.any(String),
          activeIn: { ivrProfiles: ['record'], screenRecording: false },
          replacementAvailable: false,
          message: expect.stringContaining('still being encrypted with the expired certificate'),
        });
      }, 90_000);

      const scanNow = async () => {
        const operator = await h.token({ roles: ['operator'], subject: 'ops' });
        const res = await api('POST', '/v1/expiry-scan', { token: operator, json: {} });
        expect(res.status).toBe(200);
        return res.body.notifications as { tenantId: string; certificateId: string }[];
      };
      const noticesOf = async (t: { id: string; token: string }) =>
        (await api('GET', `/v1/tenants/${t.id}/notifications`, { token: t.token })).body.items;

      it('says where a certificate is active and whether a newer one is ready to assign (rule 14)', async () => {
        const t = await tenant();
        const expiring = await upload(t, freshPair({ days: 10 }));
        if (h.flow === 'aws') await assign(t, 'record', expiring.id);
        const screen = `/v1/tenants/${t.id}/screen-recording-certificates`;
        expect((await api('PATCH', screen, { token: t.token, json: { add: [expiring.id] } })).status).toBe(
          200,
        );
        // A newer one: left unassigned on the aws flow; the azure flow assigns it to record at once.
        const newer = await upload(t, freshPair({ days: 365 }));

        const created = (await scanNow()).filter((n) => n.tenantId === t.id);
        const listed = await noticesOf(t);

        const expected = {
          certificateId: expiring.id,
          kind: 'expiring',
          thresholdDays: 14,
          activeIn:
            h.flow === 'aws'
              ? { ivrProfiles: ['record'], screenRecording: true }
              : { ivrProfiles: [], screenRecording: true },
          replacementAvailable: h.flow === 'aws',
          message: expect.stringContaining('recordings keep being encrypted with the expired certificate'),
        };
        expect(created).toEqual([expect.objectContaining({ ...expected, tenantId: t.id })]);
        expect(listed).toEqual([expect.objectContaining(expected)]);
        expect(listed.map((n: { certificateId: string }) => n.certificateId)).not.toContain(newer.id);
      }, 90_000);

      it('makes no notice for a replaced (retired) certificate, only for the one that replaced it', async () => {
        const t = await tenant();
        const old = await upload(t, freshPair({ days: 8 }));
        if (h.flow === 'aws') await assign(t, 'record', old.id);
        const current = await upload(t, freshPair({ days: 10 }));
        if (h.flow === 'aws') await assign(t, 'record', current.id);
        const view = await api('GET', `/v1/tenants/${t.id}/certificates/${old.id}`, { token: t.token });
        expect(view.body.status).toBe('retired');

        const created = (await scanNow()).filter((n) => n.tenantId === t.id);

        expect(created).toEqual([
          expect.objectContaining({
            certificateId: current.id,
            thresholdDays: 14,
            activeIn: { ivrProfiles: ['record'], screenRecording: false },
            replacementAvailable: false,
          }),
        ]);
        expect((await noticesOf(t)).map((n: { certificateId: string }) => n.certificateId)).toEqual([
          current.id,
        ]);
      }, 90_000);

      if (spec.flow === 'aws') {
        it('makes no notice for a never-assigned certificate, and picks it up once it is in use', async () => {
          const t = await tenant();
          const cert = await upload(t, freshPair({ days: 10 }));

          const unassigned = (await scanNow()).filter((n) => n.tenantId === t.id);
          const screen = `/v1/tenants/${t.id}/screen-recording-certificates`;
          const added = await api('PATCH', screen, { token: t.token, json: { add: [cert.id] } });
          const activated = (await scanNow()).filter((n) => n.tenantId === t.id);
          const again = (await scanNow()).filter((n) => n.tenantId === t.id);

          expect(unassigned).toEqual([]);
          expect(added.status).toBe(200);
          expect(activated).toEqual([
            expect.objectContaining({
              certificateId: cert.id,
              kind: 'expiring',
              thresholdDays: 14,
              activeIn: { ivrProfiles: [], screenRecording: true },
            }),
          ]);
          expect(again).toEqual([]);
          expect(await noticesOf(t)).toHaveLength(1);
        }, 90_000);
      }

      it('refuses a malformed scan time with 400', async () => {
        const operator = await h.token({ roles: ['operator'] });
        const res = await api('POST', '/v1/expiry-scan', { token: operator, json: { now: 'yesterday' } });
        expect(res.status).toBe(400);
      });

      it('regression #12: refuses a scan time more than 5 minutes ahead of the server clock and notifies nothing', async () => {
        const t = await tenant();
        const operator = await h.token({ roles: ['operator'], subject: 'ops' });
        await upload(t, freshPair({ days: 20 }));
        const aheadTimes = ['9999-12-31T00:00:00Z', new Date(Date.now() + 10 * 60_000).toISOString()];

        const ahead = await Promise.all(
          aheadTimes.map((now) => api('POST', '/v1/expiry-scan', { token: operator, json: { now } })),
        );
        const notices = await api('GET', `/v1/tenants/${t.id}/notifications`, { token: t.token });
        const yesterday = await api('POST', '/v1/expiry-scan', {
          token: operator,
          json: { now: new Date(Date.now() - DAY).toISOString() },
        });

        for (const res of ahead) {
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('VALIDATION_ERROR');
          expect(res.body.error.message).toMatch(/ahead of the server clock/);
        }
        expect(notices.body.items).toEqual([]);
        expect(yesterday.status).toBe(200);
      });
    });

    describe('audit trail', () => {
      it('records who changed what, newest first', async () => {
        const t = await tenant();
        const cert = await upload(t);
        await assign(t, 'record', cert.id);
        await api('PATCH', `/v1/tenants/${t.id}/screen-recording-certificates`, {
          token: t.token,
          json: { add: [cert.id] },
        });
        const res = await api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token });
        expect(res.status).toBe(200);
        const actions = res.body.items.map((e: { action: string }) => e.action);
        expect(actions.slice(0, 2)).toEqual(['screen.change', expect.stringMatching(/^ivr\.assign/)]);
        expect(actions).toEqual(
          expect.arrayContaining(['certificate.upload', 'ivr.assign.requested', 'ivr.assign.applied']),
        );
        expect(res.body.items.every((e: { actor: string }) => e.actor === 'contract-admin')).toBe(true);
        expect(res.text).not.toContain('PRIVATE KEY');
      });

      it('pages one certificate’s entries with ?certificateId=, newest first, none left out', async () => {
        const t = await tenant();
        const first = await upload(t);
        await assign(t, 'first-a', first.id);
        await assign(t, 'first-b', first.id);
        // Another certificate's entries between and after them (on the azure flow it replaces the first).
        const second = await upload(t);
        await assign(t, 'second', second.id);
        const all = await api('GET', `/v1/tenants/${t.id}/audit?limit=1000`, { token: t.token });
        const expected = all.body.items.filter(
          (e: { certificateId?: string }) => e.certificateId === first.id,
        );
        expect(expected.length).toBeGreaterThanOrEqual(3);
        const seen: unknown[] = [];
        let cursor: string | undefined;
        for (let reads = 0; reads < 20; reads++) {
          const query = cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`;
          const res = await api(
            'GET',
            `/v1/tenants/${t.id}/audit?certificateId=${first.id}&limit=2${query}`,
            {
              token: t.token,
            },
          );
          expect(res.status).toBe(200);
          seen.push(...res.body.items);
          cursor = res.body.nextCursor;
          if (cursor === undefined) break;
        }
        expect(seen).toEqual(expected);
      });
    });

    describe('recording decryption', () => {
      const audio = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 7)) & 0xff));

      async function decrypt(
        t: { id: string },
        token: string,
        body: Buffer,
        contentType = 'application/cms',
      ) {
        try {
          return await api('POST', `/v1/tenants/${t.id}/recordings/decrypt`, { token, body, contentType });
        } catch (error) {
          // A cut-off stream (integrity failure after the headers) surfaces as a fetch error.
          return { status: 0, headers: new Headers(), body: undefined, text: String(error) } as ApiResult;
        }
      }

      it('decrypts a recording for the decrypt role and audits it', async () => {
        const t = await tenant();
        const pair = freshPair();
        const cert = await upload(t, pair);
        const player = await h.token({ tenants: [t.id], roles: ['decrypt'], subject: 'player' });
        const response = await fetch(`${h.baseUrl}/v1/tenants/${t.id}/recordings/decrypt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${player}`, 'content-type': 'application/cms' },
          body: new Uint8Array(await encryptRecording(audio, [pair.certPem])),
        });
        expect(response.status).toBe(200);
        expect(Buffer.from(await response.arrayBuffer()).equals(audio)).toBe(true);
        const audit = await eventually(
          () => api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token }),
          (r) => r.body.items.some((e: { action: string }) => e.action === 'recording.decrypt'),
        );
        const entry = audit.body.items.find((e: { action: string }) => e.action === 'recording.decrypt');
        expect(entry).toMatchObject({
          actor: 'player',
          certificateId: cert.id,
          details: { outcome: 'decrypted' },
        });
      });

      it('is for the decrypt role only', async () => {
        const t = await tenant(['admin']);
        const res = await decrypt(t, t.token, Buffer.from('x'));
        expect(res.status).toBe(403);
      });

      it('refuses non-CMS input with 400 NOT_CMS and a recording for someone else with 422 NO_MATCHING_KEY', async () => {
        const t = await tenant();
        await upload(t);
        const garbage = await decrypt(t, t.token, Buffer.from('RIFF....WAVEfmt not encrypted'));
        expect(garbage.status).toBe(400);
        expect(garbage.body.error.code).toBe('NOT_CMS');
        const stranger = freshPair();
        const foreign = await decrypt(t, t.token, await encryptRecording(audio, [stranger.certPem]));
        expect(foreign.status).toBe(422);
        expect(foreign.body.error.code).toBe('NO_MATCHING_KEY');
        const wrongType = await decrypt(t, t.token, Buffer.from('x'), 'text/plain');
        expect(wrongType.status).toBe(415);
      });

      it('never completes a response whose integrity check failed', async () => {
        const t = await tenant();
        const pair = freshPair();
        await upload(t, pair);
        const cms = await encryptRecording(audio, [pair.certPem]);
        const tampered = Buffer.from(cms);
        tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 0x01;
        const res = await decrypt(t, t.token, tampered);
        if (res.status === 0) {
          expect(res.text).toMatch(/terminated|aborted|socket|closed|error/i);
        } else {
          expect(res.status).toBe(422);
          expect(res.body.error.code).toBe('INTEGRITY_CHECK_FAILED');
        }
      });

      /** Distinct bytes at every offset, so a leaked piece of plaintext can be recognised. */
      function recordingOf(size: number): Buffer {
        const out = Buffer.alloc(size);
        for (let i = 0; i < size; i += 4) out.writeUInt32BE(i ^ 0x5a5a5a5a, i);
        return out;
      }

      /** The playback audit entries of a tenant, newest first. */
      async function playbackAudit(t: { id: string; token: string }) {
        const res = await api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token });
        return (res.body?.items ?? []).filter(
          (e: { action: string }) => e.action === 'recording.decrypt',
        ) as Array<{
          certificateId?: string;
          details: Record<string, unknown>;
        }>;
      }

      /** A decrypt whose answer is read whole: status, error code, body bytes. */
      async function play(t: { id: string; token: string }, body: Buffer) {
        const res = await fetch(`${h.baseUrl}/v1/tenants/${t.id}/recordings/decrypt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/cms' },
          body: new Uint8Array(body),
        });
        const bytes = Buffer.from(await res.arrayBuffer());
        let code: string | undefined;
        try {
          code = JSON.parse(bytes.toString('utf8')).error?.code;
        } catch {
          code = undefined;
        }
        return { status: res.status, code, bytes };
      }

      /** Whether `received` holds any 16-byte piece of `plaintext` (a leak of its bytes). */
      function leaks(received: Buffer, plaintext: Buffer): boolean {
        if (received.length < 16) return false;
        for (let i = 0; i + 16 <= received.length; i += 8) {
          if (plaintext.includes(received.subarray(i, i + 16))) return true;
        }
        return false;
      }

      it('regression #5: answers a flipped tag byte with 422 INTEGRITY_CHECK_FAILED and no plaintext byte (64 KiB and 5 MB)', async () => {
        const t = await tenant();
        const pair = freshPair();
        await upload(t, pair);
        for (const size of [64 * 1024, 5_000_000]) {
          const plaintext = recordingOf(size);
          const cms = await encryptRecording(plaintext, [pair.certPem]);
          const tag = regionsOf(cms).find((r) => r.name === 'authentication tag')!;
          const tampered = Buffer.from(cms);
          tampered[tag.start + 7]! ^= 0x01;
          const res = await play(t, tampered);
          expect({ size, status: res.status, code: res.code }).toEqual({
            size,
            status: 422,
            code: 'INTEGRITY_CHECK_FAILED',
          });
          expect(res.bytes.length).toBeLessThan(1024);
          expect(leaks(res.bytes, plaintext)).toBe(false);
        }
        const entries = await playbackAudit(t);
        expect(entries.slice(0, 2).map((e) => e.details)).toEqual([
          expect.objectContaining({ outcome: 'failed', code: 'INTEGRITY_CHECK_FAILED' }),
          expect.objectContaining({ outcome: 'failed', code: 'INTEGRITY_CHECK_FAILED' }),
        ]);
      }, 120_000);

      it('regression #4: a 5 MB recording cut 20 bytes short sends no plaintext byte and is audited, whether the client waits or goes away', async () => {
        const t = await tenant();
        const pair = freshPair();
        const cert = await upload(t, pair);
        const plaintext = recordingOf(5_000_000);
        const cms = await encryptRecording(plaintext, [pair.certPem]);
        const short = cms.subarray(0, cms.length - 20);

        // The client sends all but the last 20 bytes, reads what comes, and goes away.
        const url = new URL(`${h.baseUrl}/v1/tenants/${t.id}/recordings/decrypt`);
        let received = Buffer.alloc(0);
        let status = 0;
        await new Promise<void>((resolve) => {
          const req = httpRequest(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/cms' },
          });
          req.on('response', (res) => {
            status = res.statusCode ?? 0;
            res.on('data', (c: Buffer) => {
              received = Buffer.concat([received, c]);
            });
          });
          req.on('error', () => resolve());
          req.on('close', () => resolve());
          req.write(short, () => setTimeout(() => req.destroy(), 1500));
        });
        expect(status === 0 || status >= 400).toBe(true);
        expect(leaks(received, plaintext)).toBe(false);
        if (h.name === 'local') {
          // The local runtime streams the request in: it saw the playback start, so it audits it.
          // (API Gateway and the Functions host invoke nothing until a body is complete.)
          const aborted = await eventually(
            () => playbackAudit(t),
            (entries) => entries.length > 0,
          );
          expect(aborted[0]).toMatchObject({
            details: { outcome: 'failed', code: 'CLIENT_ABORTED' },
          });
        }

        // The same bytes as a complete request: 422 and no plaintext, audited before the answer.
        const before = (await playbackAudit(t)).length;
        const res = await play(t, short);
        expect(res.status).toBe(422);
        expect(res.code).toBe('INTEGRITY_CHECK_FAILED');
        expect(leaks(res.bytes, plaintext)).toBe(false);
        const entries = await playbackAudit(t);
        expect(entries).toHaveLength(before + 1);
        expect(entries[0]).toMatchObject({
          certificateId: cert.id,
          details: { outcome: 'failed', code: 'INTEGRITY_CHECK_FAILED', unwrapAttempts: 1 },
        });
      }, 120_000);

      it('audits a playback before its first plaintext byte is sent', async () => {
        const t = await tenant();
        const pair = freshPair();
        const cert = await upload(t, pair);
        const cms = await encryptRecording(audio, [pair.certPem]);
        const url = new URL(`${h.baseUrl}/v1/tenants/${t.id}/recordings/decrypt`);
        const atHeaders = await new Promise<{
          status: number | undefined;
          length: string | undefined;
          entries: Awaited<ReturnType<typeof playbackAudit>>;
        }>((resolve, reject) => {
          const req = httpRequest(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/cms' },
          });
          req.on('response', (res) => {
            // The headers are in, no body byte has been read: the trail must already have it.
            res.pause();
            playbackAudit(t).then((entries) => {
              res.destroy();
              resolve({ status: res.statusCode, length: res.headers['content-length'], entries });
            }, reject);
          });
          req.on('error', () => undefined);
          req.end(cms);
        });
        expect(atHeaders.status).toBe(200);
        expect(atHeaders.length).toBe(String(audio.length));
        expect(atHeaders.entries[0]).toMatchObject({
          certificateId: cert.id,
          details: { outcome: 'decrypted', bytes: audio.length, unwrapAttempts: 1 },
        });
      });

      it('regression #7: refuses 1,000 recipients naming the certificate with 400 TOO_MANY_RECIPIENTS before any unwrap, and makes at most 4 unwrap attempts for 16', async () => {
        const t = await tenant();
        const pair = freshPair();
        const cert = await upload(t, pair);
        const genuine = await encryptRecording(audio, [pair.certPem]);

        const many = withRecipientInfos(
          genuine,
          Array.from({ length: 1000 }, () => forgedRecipient(pair.certPem)),
        );
        const started = Date.now();
        const refused = await play(t, many);
        const elapsed = Date.now() - started;
        expect({ status: refused.status, code: refused.code }).toEqual({
          status: 400,
          code: 'TOO_MANY_RECIPIENTS',
        });
        expect(elapsed).toBeLessThan(10_000);
        expect((await playbackAudit(t))[0]?.details).toMatchObject({
          outcome: 'failed',
          code: 'TOO_MANY_RECIPIENTS',
          unwrapAttempts: 0,
        });

        const sixteen = withRecipientInfos(
          genuine,
          Array.from({ length: 16 }, () => forgedRecipient(pair.certPem)),
        );
        const failed = await play(t, sixteen);
        expect({ status: failed.status, code: failed.code }).toEqual({
          status: 422,
          code: 'NO_MATCHING_KEY',
        });
        expect((await playbackAudit(t))[0]).toMatchObject({
          certificateId: cert.id,
          details: { outcome: 'failed', code: 'NO_MATCHING_KEY', unwrapAttempts: 4 },
        });
      }, 60_000);

      it('audits NOT_CMS and NO_MATCHING_KEY outcomes too', async () => {
        const t = await tenant();
        await upload(t);
        await play(t, Buffer.from('RIFF....WAVEfmt not encrypted'));
        await play(t, await encryptRecording(audio, [freshPair().certPem]));
        const entries = await playbackAudit(t);
        expect(entries.slice(0, 2).map((e) => e.details)).toEqual([
          expect.objectContaining({ outcome: 'failed', code: 'NO_MATCHING_KEY', unwrapAttempts: 0 }),
          expect.objectContaining({ outcome: 'failed', code: 'NOT_CMS', unwrapAttempts: 0 }),
        ]);
      });

      it('never answers plaintext for a recording tampered in any region or cut short anywhere', async () => {
        const t = await tenant();
        const pair = freshPair();
        await upload(t, pair);
        const plaintext = recordingOf(2 * 1024 * 1024);
        const cms = await encryptRecording(plaintext, [pair.certPem]);
        const cases: Array<{ what: string; body: Buffer }> = [];
        for (const region of regionsOf(cms)) {
          for (const at of new Set([region.start, (region.start + region.end) >> 1, region.end - 1])) {
            const body = Buffer.from(cms);
            body[at]! ^= 0x01;
            cases.push({ what: `${region.name} byte ${at}`, body });
          }
        }
        for (const length of [0, 1, 10, 100, 300, 600, cms.length >> 1, cms.length - 17, cms.length - 1]) {
          cases.push({ what: `cut to ${length} bytes`, body: cms.subarray(0, length) });
        }
        cases.push({ what: 'a trailer appended', body: Buffer.concat([cms, Buffer.from([0, 0])]) });
        const documented = ['NOT_CMS', 'TOO_MANY_RECIPIENTS', 'NO_MATCHING_KEY', 'INTEGRITY_CHECK_FAILED'];
        for (const { what, body } of cases) {
          const res = await play(t, body);
          expect({ what, status: res.status, documented: documented.includes(res.code ?? '') }).toEqual({
            what,
            status: res.code === 'NOT_CMS' || res.code === 'TOO_MANY_RECIPIENTS' ? 400 : 422,
            documented: true,
          });
          expect({ what, leaked: leaks(res.bytes, plaintext) }).toEqual({ what, leaked: false });
        }
        expect((await play(t, cms)).bytes.equals(plaintext)).toBe(true);
      }, 120_000);

      it('returns a 5 MB playback whole, or 413 PAYLOAD_TOO_LARGE where Lambda cannot carry it', async () => {
        const t = await tenant();
        const pair = freshPair();
        await upload(t, pair);
        const plaintext = recordingOf(5_000_000);
        const res = await play(t, await encryptRecording(plaintext, [pair.certPem]));
        if (h.name === 'aws') {
          expect({ status: res.status, code: res.code }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
          expect((await playbackAudit(t))[0]?.details).toMatchObject({
            outcome: 'failed',
            code: 'PAYLOAD_TOO_LARGE',
          });
        } else {
          expect(res.status).toBe(200);
          expect(res.bytes.equals(plaintext)).toBe(true);
        }
      }, 120_000);
    });

    if (spec.flow === 'azure') {
      describe('azure upload flow', () => {
        it('refuses a PKCS#1 key with 400 PKCS8_REQUIRED naming the conversion command', async () => {
          const t = await tenant();
          const pair = freshPair();
          const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
            token: t.token,
            form: {
              certificate: pair.certPem,
              privateKey: pair.key.export({ type: 'pkcs1', format: 'pem' }).toString(),
            },
          });
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('PKCS8_REQUIRED');
          expect(res.body.error.message).toContain('openssl pkcs8 -topk8 -nocrypt');
        });

        it('takes a single PEM bundle, shows key and alias, and assigns it to the record profile', async () => {
          const t = await tenant();
          const pair = freshPair();
          const res = await api('POST', `/v1/tenants/${t.id}/certificates`, {
            token: t.token,
            form: { certificate: pair.certPem + pair.keyPem },
          });
          expect(res.status).toBe(201);
          expect(res.body.key).toEqual(expect.any(String));
          expect(res.body.alias).toEqual(expect.any(String));
          const profile = await eventually(
            () => api('GET', `/v1/tenants/${t.id}/ivr-profiles/record`, { token: t.token }),
            (r) => r.status === 200,
          );
          expect(profile.body.activeCertificateId).toBe(res.body.id);
        });

        it('regression #16: refuses to delete a certificate right after its upload, before or after the automatic assignment is applied', async () => {
          const t = await tenant();
          const pair = freshPair();
          const uploaded = await api('POST', `/v1/tenants/${t.id}/certificates`, {
            token: t.token,
            form: { certificate: pair.certPem, privateKey: pair.keyPem },
          });
          expect(uploaded.status).toBe(201);

          for (const query of ['', '?force=true']) {
            const res = await api('DELETE', `/v1/tenants/${t.id}/certificates/${uploaded.body.id}${query}`, {
              token: t.token,
            });
            expect(res.status).toBe(409);
            expect(res.body.error.code).toBe('CERTIFICATE_IN_USE');
          }
          const profile = await eventually(
            () => api('GET', `/v1/tenants/${t.id}/ivr-profiles/record`, { token: t.token }),
            (r) => r.status === 200,
          );
          expect(profile.body.activeCertificateId).toBe(uploaded.body.id);
        });
      });
    }

    describe('recording rewrap', () => {
      const audio = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 17 + (i >> 5)) & 0xff));

      async function rewrap(t: { id: string; token: string }, to: string[], body: Buffer) {
        const query = to.map((id) => `to=${encodeURIComponent(id)}`).join('&');
        return api('POST', `/v1/tenants/${t.id}/recordings/rewrap${query ? `?${query}` : ''}`, {
          token: t.token,
          body,
          contentType: 'application/cms',
        });
      }

      /** The response body as bytes (the client reads it as text, which would mangle binary). */
      async function rewrapBytes(t: { id: string; token: string }, to: string[], body: Buffer) {
        const query = to.map((id) => `to=${encodeURIComponent(id)}`).join('&');
        const res = await fetch(`${h.baseUrl}/v1/tenants/${t.id}/recordings/rewrap?${query}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/cms' },
          body: new Uint8Array(body),
        });
        return {
          status: res.status,
          type: res.headers.get('content-type'),
          bytes: Buffer.from(await res.arrayBuffer()),
        };
      }

      /** Whether `openssl cms -decrypt` with `pair`'s key opens `cms` to `plaintext`. */
      function opensslOpens(cms: Buffer, pair: Pair, plaintext: Buffer): boolean {
        const dir = mkdtempSync(join(tmpdir(), 'reccert-rewrap-'));
        try {
          writeFileSync(join(dir, 'in.cms'), cms);
          writeFileSync(join(dir, 'key.pem'), pair.keyPem, { mode: 0o600 });
          writeFileSync(join(dir, 'cert.pem'), pair.certPem);
          execFileSync(
            'openssl',
            [
              'cms',
              '-decrypt',
              '-binary',
              '-inform',
              'DER',
              '-in',
              'in.cms',
              '-inkey',
              'key.pem',
              '-recip',
              'cert.pem',
              '-out',
              'out',
            ],
            { cwd: dir, stdio: 'pipe' },
          );
          return readFileSync(join(dir, 'out')).equals(plaintext);
        } catch {
          return false;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }

      it('rewraps for certificates of the tenant: their keys open it, the old key no longer does, content and tag unchanged, audited', async () => {
        const t = await tenant();
        const old = freshPair();
        const next = freshPair();
        const spare = freshPair();
        const original = await encryptRecording(audio, [old.certPem]);
        const oldCert = await upload(t, old);
        const nextCert = await upload(t, next);
        // On the azure flow each upload replaces the previous one in `record`: keep `next` current.
        await assign(t, 'support', nextCert.id);
        const spareCert = await upload(t, spare);

        const res = await rewrapBytes(t, [nextCert.id, spareCert.id], original);
        const audit = await eventually(
          () => api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token }),
          (r) => r.body.items.some((e: { action: string }) => e.action === 'recording.rewrap'),
        );

        expect(res.status).toBe(200);
        expect(res.type).toBe('application/cms');
        expect(
          audit.body.items.find((e: { action: string }) => e.action === 'recording.rewrap'),
        ).toMatchObject({
          certificateId: oldCert.id,
          details: { outcome: 'rewrapped', to: [nextCert.id, spareCert.id] },
        });
        // The encrypted content (as long as the audio) and the 18-byte mac end both recordings.
        const tail = audio.length + 18;
        expect(res.bytes.subarray(-tail).equals(original.subarray(-tail))).toBe(true);
        expect(opensslOpens(res.bytes, next, audio)).toBe(true);
        expect(opensslOpens(res.bytes, spare, audio)).toBe(true);
        expect(opensslOpens(res.bytes, old, audio)).toBe(false);
      });

      it('rewraps for the escrow certificate with to=escrow, and answers 409 NO_ESCROW_CERTIFICATE without one', async () => {
        const t = await tenant();
        const own = freshPair();
        const escrow = freshPair();
        const original = await encryptRecording(audio, [own.certPem]);
        await upload(t, own);

        const before = await rewrap(t, ['escrow'], original);
        const registered = await api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, {
          token: t.token,
          json: { certificate: escrow.certPem },
        });
        const res = await rewrapBytes(t, ['escrow'], original);

        expect(before.status).toBe(409);
        expect(before.body.error.code).toBe('NO_ESCROW_CERTIFICATE');
        expect(registered.status).toBe(200);
        expect(res.status).toBe(200);
        expect(opensslOpens(res.bytes, escrow, audio)).toBe(true);
        expect(opensslOpens(res.bytes, own, audio)).toBe(false);
      });

      it('refuses an unknown target with 404, a retired one with 409 CERTIFICATE_NOT_USABLE and too many with 400', async () => {
        const t = await tenant();
        const [firstPair, secondPair] = [freshPair(), freshPair()];
        const cms = await encryptRecording(audio, [freshPair().certPem]);
        const first = await upload(t, firstPair);
        await assign(t, 'support', first.id);
        const second = await upload(t, secondPair);
        await assign(t, 'support', second.id);

        const unknown = await rewrap(t, ['f'.repeat(32)], cms);
        const retired = await rewrap(t, [first.id], cms);
        const none = await rewrap(t, [], cms);
        const many = await rewrap(t, ['a1', 'a2', 'a3', 'a4', 'a5'], cms);

        expect(unknown.status).toBe(404);
        expect(retired.status).toBe(409);
        expect(retired.body.error.code).toBe('CERTIFICATE_NOT_USABLE');
        expect(none.status).toBe(400);
        expect(none.body.error.code).toBe('VALIDATION_ERROR');
        expect(many.status).toBe(400);
        expect(many.body.error.code).toBe('VALIDATION_ERROR');
      });

      it('answers a tampered recording with 422 INTEGRITY_CHECK_FAILED, and one for someone else with 422 NO_MATCHING_KEY', async () => {
        const t = await tenant();
        const pair = freshPair();
        const targetPair = freshPair();
        const cms = await encryptRecording(audio, [pair.certPem]);
        await upload(t, pair);
        const target = await upload(t, targetPair);
        const tampered = Buffer.from(cms);
        tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 0x01;
        const forSomeoneElse = await encryptRecording(audio, [freshPair().certPem]);

        const damaged = await rewrap(t, [target.id], tampered);
        const foreign = await rewrap(t, [target.id], forSomeoneElse);
        const garbage = await rewrap(t, [target.id], Buffer.from('RIFF....WAVEfmt not encrypted'));

        expect(damaged.status).toBe(422);
        expect(damaged.body.error.code).toBe('INTEGRITY_CHECK_FAILED');
        expect(foreign.status).toBe(422);
        expect(foreign.body.error.code).toBe('NO_MATCHING_KEY');
        expect(garbage.status).toBe(400);
        expect(garbage.body.error.code).toBe('NOT_CMS');
      });

      it('is for the decrypt role only', async () => {
        const t = await tenant(['admin']);

        const res = await rewrap(t, ['x'], Buffer.from('x'));

        expect(res.status).toBe(403);
      });
    });

    describe('escrow and key backup', () => {
      /** The escrow pair in files, as a tenant keeps it offline (openssl reads only files). */
      function escrowFiles(pair: Pair): { dir: string; key: string; cert: string } {
        const dir = mkdtempSync(join(tmpdir(), 'reccert-escrow-'));
        const key = join(dir, 'escrow.key');
        const cert = join(dir, 'escrow.pem');
        writeFileSync(key, pair.keyPem, { mode: 0o600 });
        writeFileSync(cert, pair.certPem);
        return { dir, key, cert };
      }

      async function downloadBackup(t: {
        id: string;
        token: string;
      }): Promise<{ status: number; type: string; bytes: Buffer }> {
        const response = await fetch(`${h.baseUrl}/v1/tenants/${t.id}/key-backup`, {
          headers: { authorization: `Bearer ${t.token}` },
        });
        return {
          status: response.status,
          type: response.headers.get('content-type') ?? '',
          bytes: Buffer.from(await response.arrayBuffer()),
        };
      }

      /** Opens a DER CMS with stock openssl and the escrow key. */
      function opensslDecrypt(files: { dir: string; key: string; cert: string }, der: Buffer): Buffer {
        const input = join(files.dir, `in-${randomUUID()}.cms`);
        writeFileSync(input, der);
        return execFileSync('openssl', [
          'cms',
          '-decrypt',
          '-binary',
          '-inform',
          'DER',
          '-in',
          input,
          '-inkey',
          files.key,
          '-recip',
          files.cert,
        ]);
      }

      function modulusOfCertificate(pem: string): string {
        return openssl(['x509', '-noout', '-modulus'], pem).trim();
      }

      function modulusOfKey(pkcs8Der: Buffer): string {
        return openssl(['rsa', '-inform', 'DER', '-noout', '-modulus'], pkcs8Der).trim();
      }

      // The Azure runtime plays Key Vault's rule even over its stand-in keystore: keys never leave it.
      const keysLeaveCustody = () => h.name !== 'azure';

      it('refuses a bad escrow certificate with the upload’s 400 codes, and has none until one is registered', async () => {
        const t = await tenant(['admin']);
        const put = (certificate: string) =>
          api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, { token: t.token, json: { certificate } });
        const expired = freshPair();
        const expiredCert = buildSelfSigned(expired.key, {
          subject: [['CN', 'Old escrow']],
          notBefore: new Date(Date.now() - 20 * DAY),
          notAfter: new Date(Date.now() - DAY),
        }).pem;
        const pair = freshPair();

        const garbage = await put('not a certificate');
        const old = await put(expiredCert);
        const withKey = await put(`${pair.certPem}${pair.keyPem}`);
        const none = await api('GET', `/v1/tenants/${t.id}/escrow-certificate`, { token: t.token });
        const backup = await downloadBackup(t);
        const reader = await tenant(['decrypt']);
        const forbidden = await api('GET', `/v1/tenants/${reader.id}/escrow-certificate`, {
          token: reader.token,
        });

        expect([garbage.status, garbage.body.error.code]).toEqual([400, 'INVALID_PEM']);
        expect([old.status, old.body.error.code]).toEqual([400, 'CERTIFICATE_EXPIRED']);
        expect(withKey.status).toBe(400);
        expect(withKey.text).not.toContain(pair.keyPem.split('\n')[1]);
        expect(none.status).toBe(404);
        expect(backup.status).toBe(409);
        expect(JSON.parse(backup.bytes.toString()).error.code).toBe('NO_ESCROW_CERTIFICATE');
        expect(forbidden.status).toBe(403);
      });

      it('escrows every key, and the backup opens with stock openssl to every certificate and its key', async () => {
        const t = await tenant();
        const escrowPair = freshPair({ cn: 'Escrow' });
        const files = escrowFiles(escrowPair);
        try {
          // Before registration; later retired by the next assignment, and on Azure never escrowed.
          const before = await upload(t);
          const register = await api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, {
            token: t.token,
            json: { certificate: escrowPair.certPem },
          });
          const pkcs8 = await upload(t);
          const shortLived = freshPair({ days: 4 / 86_400 });
          const expiring = await upload(t, shortLived);
          const encryptedPair = freshPair();
          const encrypted = await api('POST', `/v1/tenants/${t.id}/certificates`, {
            token: t.token,
            form: {
              certificate: encryptedPair.certPem,
              privateKey: encryptedPair.key
                .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
                .toString(),
              privateKeyPassword: 'pw',
            },
          });
          expect(encrypted.status).toBe(201);
          const uploaded = [before.id, pkcs8.id, expiring.id, encrypted.body.id as string];
          if (h.flow === 'aws') {
            const pkcs1Pair = freshPair();
            const pkcs1 = await api('POST', `/v1/tenants/${t.id}/certificates`, {
              token: t.token,
              form: {
                certificate: pkcs1Pair.certPem,
                privateKey: pkcs1Pair.key.export({ type: 'pkcs1', format: 'pem' }).toString(),
              },
            });
            expect(pkcs1.status).toBe(201);
            uploaded.push(pkcs1.body.id);
            await assign(t, 'record', before.id);
            await assign(t, 'record', pkcs8.id);
          }
          // The azure flow assigns every upload to record itself: the last one is active there.
          const active = h.flow === 'aws' ? pkcs8.id : (encrypted.body.id as string);
          await new Promise((r) =>
            setTimeout(r, Math.max(0, Date.parse(expiring.notAfter) - Date.now() + 1_000)),
          );
          const status = await api('GET', `/v1/tenants/${t.id}/escrow-certificate`, { token: t.token });
          const backup = await downloadBackup(t);
          const audit = await api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token });

          expect(register.status).toBe(200);
          expect(register.body).toMatchObject({
            fingerprintSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
            subjectDN: expect.stringContaining('CN=Escrow'),
          });
          if (keysLeaveCustody()) {
            expect(register.body).toMatchObject({ escrowedKeys: 1, notEscrowed: [] });
            expect(status.body).toMatchObject({ escrowedKeys: uploaded.length, notEscrowed: [] });
          } else {
            expect(register.body.escrowedKeys).toBe(0);
            expect(register.body.notEscrowed).toEqual([
              { certificateId: before.id, reason: expect.stringContaining('non-exportable') },
            ]);
            expect(status.body.escrowedKeys).toBe(uploaded.length - 1);
            expect(status.body.notEscrowed.map((n: { certificateId: string }) => n.certificateId)).toEqual([
              before.id,
            ]);
          }
          expect(backup.status).toBe(200);
          expect(backup.type).toBe('application/cms');
          const bundle = parseBackupBundle(opensslDecrypt(files, backup.bytes).toString('utf8'));
          expect(bundle.tenantId).toBe(t.id);
          expect(bundle.entries.map((e) => e.certificateId).sort()).toEqual([...uploaded].sort());
          const entryOf = (id: string) => bundle.entries.find((e) => e.certificateId === id)!;
          expect(entryOf(before.id).status).toBe('retired');
          expect(entryOf(expiring.id).status).toBe('expired');
          expect(entryOf(active).activeIn).toEqual({ ivrProfiles: ['record'], screenRecording: false });
          expect(bundle.profiles).toEqual([
            expect.objectContaining({ profileId: 'record', activeCertificateId: active }),
          ]);
          for (const entry of bundle.entries) {
            const keyDer =
              entry.privateKeyDer ??
              (entry.escrowCopyCms ? opensslDecrypt(files, entry.escrowCopyCms) : undefined);
            if (!keysLeaveCustody() && entry.certificateId === before.id) {
              expect(keyDer).toBeUndefined();
              expect(entry.notEscrowedReason).toContain('non-exportable');
              continue;
            }
            expect(keyDer).toBeDefined();
            expect(modulusOfKey(keyDer!)).toBe(modulusOfCertificate(entry.certificatePem));
          }
          const actions = audit.body.items.map((e: { action: string }) => e.action);
          expect(actions).toEqual(expect.arrayContaining(['escrow.register', 'escrow.backup']));
          expect(JSON.stringify(audit.body)).not.toContain(backup.bytes.toString('base64').slice(100, 160));
        } finally {
          rmSync(files.dir, { recursive: true, force: true });
        }
      }, 60_000);

      it('re-escrows to a replacement escrow certificate where custody can, and says why not elsewhere', async () => {
        const t = await tenant();
        const first = freshPair({ cn: 'Escrow one' });
        const second = freshPair({ cn: 'Escrow two' });
        const files = escrowFiles(second);
        try {
          await api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, {
            token: t.token,
            json: { certificate: first.certPem },
          });
          const cert = await upload(t);
          const replaced = await api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, {
            token: t.token,
            json: { certificate: second.certPem },
          });
          const again = await api('PUT', `/v1/tenants/${t.id}/escrow-certificate`, {
            token: t.token,
            json: { certificate: second.certPem },
          });
          const backup = await downloadBackup(t);

          expect(replaced.status).toBe(200);
          expect(replaced.body.subjectDN).toContain('Escrow two');
          if (keysLeaveCustody()) {
            expect(replaced.body).toMatchObject({ escrowedKeys: 1, notEscrowed: [] });
          } else {
            expect(replaced.body.escrowedKeys).toBe(0);
            expect(replaced.body.notEscrowed).toEqual([
              { certificateId: cert.id, reason: expect.stringContaining('earlier escrow certificate') },
            ]);
          }
          expect(again.body).toEqual(replaced.body);
          const [entry] = parseBackupBundle(opensslDecrypt(files, backup.bytes).toString('utf8')).entries;
          expect(entry!.certificateId).toBe(cert.id);
          if (keysLeaveCustody()) expect(entry!.privateKeyDer).toBeDefined();
          else expect(entry!.escrowCopyCms).toBeDefined();
        } finally {
          rmSync(files.dir, { recursive: true, force: true });
        }
      }, 60_000);
    });

    describe('durability', () => {
      it('keeps everything across a restart on the same data', async () => {
        const t = await tenant();
        const cert = await upload(t);
        await assign(t, 'record', cert.id);
        await h.restart();
        const got = await api('GET', `/v1/tenants/${t.id}/certificates/${cert.id}`, { token: t.token });
        expect(got.status).toBe(200);
        expect(got.body.ivrProfiles).toEqual(['record']);
        const audit = await api('GET', `/v1/tenants/${t.id}/audit`, { token: t.token });
        expect(audit.body.items.length).toBeGreaterThanOrEqual(3);
      });
    });
  });
}
