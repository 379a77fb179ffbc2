/**
 * The HTTP contract of DESIGN section 4, as one suite every runtime must pass (local, AWS over
 * moto, Azure over Lowkey Vault and Azurite). It talks HTTP only, so it checks behaviour from
 * the outside; each test uses its own tenant, so runtimes can keep state between tests.
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { buildSelfSigned } from '../../shared/pki/builder';
import { createEncryptStream } from '../../shared/recording';
import { rsaKey } from '../helpers/pki';
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

/** Declares the whole contract for one runtime. */
export function describeContract(spec: RuntimeSpec): void {
  describe(`HTTP API v1 contract on ${spec.name} (${spec.flow} flow)`, () => {
    let h: Harness;
    const api = apiClient(() => h.baseUrl);
    // Start-up may take its whole budget (#19: the hook's timeout was exactly that budget).
    const startMs = (spec.startTimeoutMs ?? 30_000) + 60_000;

    beforeAll(async () => {
      h = await startRuntime(spec);
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
    });

    describe('expiry scan and notifications', () => {
      it('notifies the most urgent threshold once per certificate, then the expiry', async () => {
        const t = await tenant();
        const operator = await h.token({ roles: ['operator'], subject: 'ops' });
        const cert = await upload(t, freshPair({ days: 200 }));
        const notAfter = Date.parse(cert.notAfter);
        const at = (days: number) => new Date(notAfter - days * DAY).toISOString();

        const early = await api('POST', '/v1/expiry-scan', { token: operator, json: { now: at(100) } });
        expect(early.status).toBe(200);
        expect(
          early.body.notifications.filter((n: { certificateId: string }) => n.certificateId === cert.id),
        ).toEqual([]);

        const mine = (r: { body: { notifications: { certificateId: string }[] } }) =>
          r.body.notifications.filter((n) => n.certificateId === cert.id);
        const first = await api('POST', '/v1/expiry-scan', { token: operator, json: { now: at(10) } });
        expect(first.body.scanned).toBeGreaterThanOrEqual(1);
        expect(mine(first)).toEqual([
          expect.objectContaining({
            tenantId: t.id,
            certificateId: cert.id,
            kind: 'expiring',
            thresholdDays: 14,
          }),
        ]);
        const again = await Promise.all([
          api('POST', '/v1/expiry-scan', { token: operator, json: { now: at(10) } }),
          api('POST', '/v1/expiry-scan', { token: operator, json: { now: at(9) } }),
        ]);
        expect(again.flatMap(mine)).toEqual([]);
        const later = await api('POST', '/v1/expiry-scan', { token: operator, json: { now: at(-1) } });
        expect(mine(later)).toEqual([expect.objectContaining({ kind: 'expired', thresholdDays: 0 })]);

        const list = await api('GET', `/v1/tenants/${t.id}/notifications`, { token: t.token });
        expect(list.status).toBe(200);
        expect(
          list.body.items.map((n: { kind: string; thresholdDays: number }) => [n.kind, n.thresholdDays]),
        ).toEqual([
          ['expired', 0],
          ['expiring', 14],
        ]);
        expect(list.body.items[0]).toEqual({
          certificateId: cert.id,
          kind: 'expired',
          thresholdDays: 0,
          notAfter: cert.notAfter,
          createdAt: expect.any(String),
        });
      });

      it('refuses a malformed scan time with 400', async () => {
        const operator = await h.token({ roles: ['operator'] });
        const res = await api('POST', '/v1/expiry-scan', { token: operator, json: { now: 'yesterday' } });
        expect(res.status).toBe(400);
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
      });
    }

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
