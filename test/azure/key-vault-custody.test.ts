import crypto from 'node:crypto';
import { RestError } from '@azure/core-rest-pipeline';
import { InvocationContext, type Timer } from '@azure/functions';
import type { AccessToken, TokenCredential } from '@azure/identity';
import {
  CryptographyClient,
  type JsonWebKey,
  KeyClient,
  type KeyProperties,
  type KeyVaultKey,
} from '@azure/keyvault-keys';
import {
  KEY_VAULT_SERVICE_VERSION,
  KeyVaultCustody,
  parseKeyRef,
  rsaJwkFromPkcs8,
} from '../../functions/azure/adapters/key-vault-custody';
import { TableCertificateRepository } from '../../functions/azure/adapters/table-repository';
import { expiryTimerFunction } from '../../functions/azure/handlers/expiry-timer';
import { AppError, UnavailableError } from '../../shared/errors';
import { STATUS_OF } from '../../shared/http/status';
import type { KeyReference, StoredKey } from '../../shared/ports';
import { applyIvrAssignment } from '../../shared/usecases/assignments';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { deleteCertificate } from '../../shared/usecases/certificates';
import { ORPHAN_MIN_AGE_MS } from '../../shared/usecases/orphan-keys';
import { testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';
import { describeKeyListingContract } from '../ports/custody-contract';
import { freshTables } from './clients';
import { injectFault, serviceError } from './faults';

/**
 * These tests never reach a vault: every call that would is failed by injection before it leaves
 * the process (see the report: no Key Vault emulator can be installed here). The `.invalid` host
 * guarantees that a call which slipped through would fail rather than talk to anything.
 */
const VAULT_URL = 'https://reccert-test.vault.invalid';

const credential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({
    token: 'test-only',
    expiresOnTimestamp: Date.now() + 3_600_000,
  }),
};

const ref: KeyReference = { tenantId: 'tenant-kv', certificateId: 'cert-1', alias: 'rec-cert-1' };

function keyClient(): KeyClient {
  return new KeyClient(VAULT_URL, credential, { serviceVersion: KEY_VAULT_SERVICE_VERSION });
}

function cryptoFailing(status: number, headers: Record<string, string> = {}) {
  return (keyId: string) =>
    injectFault(new CryptographyClient(keyId, credential), 'unwrapKey', serviceError(status, headers), {
      sticky: true,
    });
}

describe('rsaJwkFromPkcs8', () => {
  it('builds a JWK that is the same RSA private key, allowed only to unwrap and decrypt', () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });

    const jwk = rsaJwkFromPkcs8(der);

    expect(jwk.kty).toBe('RSA');
    expect(jwk.keyOps).toEqual(['unwrapKey', 'decrypt']);
    const b64 = (v: Uint8Array | undefined) => Buffer.from(v!).toString('base64url');
    const rebuilt = crypto.createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'RSA',
        n: b64(jwk.n),
        e: b64(jwk.e),
        d: b64(jwk.d),
        p: b64(jwk.p),
        q: b64(jwk.q),
        dp: b64(jwk.dp),
        dq: b64(jwk.dq),
        qi: b64(jwk.qi),
      },
    });
    const wrapped = crypto.publicEncrypt(
      { key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.alloc(32, 7),
    );
    expect(
      crypto.privateDecrypt(
        { key: rebuilt, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrapped,
      ),
    ).toEqual(Buffer.alloc(32, 7));
  });

  it('refuses a key that is not RSA without echoing any key bytes', () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });

    expect(() => rsaJwkFromPkcs8(der)).toThrow('Key custody accepts only an RSA private key as PKCS#8 DER.');
  });
});

describe('parseKeyRef', () => {
  it('splits a key reference into the vault key name and version', () => {
    expect(parseKeyRef('rec-cert-1/0123456789abcdef0123456789abcdef')).toEqual({
      name: 'rec-cert-1',
      version: '0123456789abcdef0123456789abcdef',
    });
  });

  it('refuses anything else as NO_MATCHING_KEY', () => {
    for (const bad of ['', 'name', 'name/', '../x/1', 'a/b/c', 'na me/1']) {
      expect(() => parseKeyRef(bad)).toThrow(AppError);
    }
  });
});

describe('KeyVaultCustody failure paths (injected)', () => {
  it('reports a throttled import as unavailable with the vault’s retry hint', async () => {
    const keys = injectFault(keyClient(), 'importKey', serviceError(429, { 'Retry-After': '12' }));
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));
    const der = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'der',
    });

    const error = await custody.store(ref, der, '').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterSeconds).toBe(12);
    expect(String((error as Error).message)).not.toMatch(/BEGIN|PRIVATE/);
  });

  it('refuses an alias Key Vault cannot name before calling the vault', async () => {
    const keys = injectFault(keyClient(), 'importKey', serviceError(500), { sticky: true });
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));
    const der = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'der',
    });

    await expect(custody.store({ ...ref, alias: 'no_underscores' }, der, '')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    expect(keys.calls()).toBe(0);
  });

  it('maps an unknown key or foreign ciphertext to NO_MATCHING_KEY', async () => {
    for (const status of [404, 400]) {
      const custody = new KeyVaultCustody(keyClient(), cryptoFailing(status));

      await expect(
        custody.unwrapKey(ref, 'rec-cert-1/0123456789abcdef0123456789abcdef', Buffer.alloc(256)),
      ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
    }
  });

  it('reports a vault outage during unwrap as unavailable', async () => {
    const custody = new KeyVaultCustody(keyClient(), cryptoFailing(503));

    await expect(
      custody.unwrapKey(ref, 'rec-cert-1/0123456789abcdef0123456789abcdef', Buffer.alloc(256)),
    ).rejects.toBeInstanceOf(UnavailableError);
  });

  it('unwraps with the key version the reference names, on this vault', async () => {
    const asked: string[] = [];
    const custody = new KeyVaultCustody(keyClient(), (keyId) => {
      asked.push(keyId);
      return cryptoFailing(404)(keyId);
    });

    await custody
      .unwrapKey(ref, 'rec-cert-1/0123456789abcdef0123456789abcdef', Buffer.alloc(256))
      .catch(() => {});

    expect(asked).toEqual([`${VAULT_URL}/keys/rec-cert-1/0123456789abcdef0123456789abcdef`]);
  });

  it('treats removing a key the vault does not have as done', async () => {
    const keys = injectFault(keyClient(), 'beginDeleteKey', serviceError(404));
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));

    await expect(custody.remove(ref, 'rec-cert-1/0123456789abcdef0123456789abcdef')).resolves.toBeUndefined();
  });
});

/** A Key Vault error as the SDK throws it: the service's error code from the body, and the status. */
function vaultError(statusCode: number, code: string): RestError {
  return new RestError(`injected ${statusCode} ${code}`, { statusCode, code });
}

function pkcs8(name = 'kv', bits = 2048): Buffer {
  return rsaKey(name, bits).export({ type: 'pkcs8', format: 'der' });
}

/** What the in-process vault keeps of a key name besides its private key. */
interface HeldName {
  tags?: Record<string, string>;
  managed?: boolean;
  versions: { version: string; createdOn: Date }[];
}

/**
 * The name rules of a vault with soft-delete and purge protection on, as DESIGN section 8 saw them
 * on the emulator: an import under a new name creates the key, under a live name a new version,
 * and under the name of a deleted (recoverable) key fails with 409 Conflict — or, as emulators
 * may, with `softDeletedStatus` and the same error code. Listing names live keys with their tags
 * (no version, as the service's key list), listing versions 404s for a name that is not live.
 * Nothing reaches a network.
 */
function softDeletingVault(softDeletedStatus = 409) {
  const live = new Set<string>();
  const deleted = new Set<string>();
  const imported: string[] = [];
  const held = new Map<string, crypto.KeyObject>();
  const names = new Map<string, HeldName>();
  const client = new Proxy(keyClient(), {
    get(target, prop, receiver) {
      if (prop === 'importKey') {
        return async (
          name: string,
          jwk: JsonWebKey,
          options?: { tags?: Record<string, string> },
        ): Promise<KeyVaultKey> => {
          imported.push(name);
          if (deleted.has(name)) throw vaultError(softDeletedStatus, 'Conflict');
          live.add(name);
          held.set(name, privateKeyOfJwk(jwk));
          const version = crypto.randomBytes(16).toString('hex');
          const entry = names.get(name) ?? { versions: [] };
          names.set(name, {
            ...entry,
            tags: options?.tags,
            versions: [...entry.versions, { version, createdOn: new Date() }],
          });
          const id = `${VAULT_URL}/keys/${name}/${version}`;
          return { name, id, properties: { name, version, id, vaultUrl: VAULT_URL } } as KeyVaultKey;
        };
      }
      if (prop === 'beginDeleteKey') {
        return async (name: string) => {
          if (!live.delete(name)) throw vaultError(404, 'KeyNotFound');
          deleted.add(name);
          names.delete(name);
          return { pollUntilDone: async () => ({ name }) };
        };
      }
      if (prop === 'listPropertiesOfKeys') {
        return async function* (): AsyncGenerator<Partial<KeyProperties>> {
          for (const [name, entry] of [...names]) {
            yield { name, tags: entry.tags, managed: entry.managed, createdOn: entry.versions[0]?.createdOn };
          }
        };
      }
      if (prop === 'listPropertiesOfKeyVersions') {
        return async function* (name: string): AsyncGenerator<Partial<KeyProperties>> {
          const entry = names.get(name);
          if (entry === undefined) throw vaultError(404, 'KeyNotFound');
          for (const { version, createdOn } of entry.versions) yield { name, version, createdOn };
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  /** Puts a key name in the vault as something other than this custody may have made it. */
  const plant = (name: string, entry: Omit<HeldName, 'versions'> & { versions?: number }) => {
    live.add(name);
    const versions = Array.from({ length: entry.versions ?? 1 }, () => ({
      version: crypto.randomBytes(16).toString('hex'),
      createdOn: new Date(),
    }));
    names.set(name, { tags: entry.tags, managed: entry.managed, versions });
  };
  /** unwrapKey in the vault: RSA-OAEP-256 with the key the name holds, 404 once it is deleted. */
  const cryptographyFor = (keyId: string) =>
    new Proxy(new CryptographyClient(keyId, credential), {
      get(target, prop, receiver) {
        if (prop !== 'unwrapKey') return Reflect.get(target, prop, receiver);
        return async (_algorithm: string, wrapped: Uint8Array) => {
          const name = keyId.split('/keys/')[1]?.split('/')[0] ?? '';
          const key = live.has(name) ? held.get(name) : undefined;
          if (key === undefined) throw vaultError(404, 'KeyNotFound');
          const result = crypto.privateDecrypt(
            { key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
            wrapped,
          );
          return { result, algorithm: 'RSA-OAEP-256', keyID: keyId };
        };
      },
    });
  return { client, live, deleted, imported, cryptographyFor, plant };
}

/** The private key of an imported JWK (copied before the adapter wipes its buffers). */
function privateKeyOfJwk(jwk: JsonWebKey): crypto.KeyObject {
  const b64 = (v: Uint8Array | undefined) => Buffer.from(v!).toString('base64url');
  return crypto.createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: b64(jwk.n),
      e: b64(jwk.e),
      d: b64(jwk.d),
      p: b64(jwk.p),
      q: b64(jwk.q),
      dp: b64(jwk.dp),
      dq: b64(jwk.dq),
      qi: b64(jwk.qi),
    },
  });
}

describe('regression #18: re-upload after a delete on a soft-deleting Key Vault', () => {
  it('regression #18: stores a certificate’s key again after its earlier key was deleted and is still recoverable', async () => {
    const vault = softDeletingVault();
    const custody = new KeyVaultCustody(vault.client, cryptoFailing(500));
    const refA: KeyReference = { tenantId: 't', certificateId: 'a', alias: 'reccert-t-aaaaaaaaaaaaaaaa' };
    const refB: KeyReference = { tenantId: 't', certificateId: 'b', alias: 'reccert-t-bbbbbbbbbbbbbbbb' };

    const first = await custody.store(refA, pkcs8('a'), '');
    await custody.store(refB, pkcs8('b'), '');
    await custody.remove(refA, first.keyRef);
    const again = await custody.store(refA, pkcs8('a'), '');

    const [firstName] = first.keyRef.split('/');
    const [againName] = again.keyRef.split('/');
    expect(vault.deleted.has(firstName!)).toBe(true);
    expect(againName).not.toBe(firstName);
    expect(againName).toMatch(/^reccert-t-aaaaaaaaaaaaaaaa-[0-9a-f]{32}$/);
    expect(vault.live.has(againName!)).toBe(true);
  });

  it('regression #18: upload A, upload B (A replaced), force-delete A, upload A again: the upload succeeds', async () => {
    const vault = softDeletingVault();
    const core = testCore({ flow: 'azure' });
    core.deps.custody = new KeyVaultCustody(vault.client, vault.cryptographyFor);
    const admin = { subject: 'alice' };
    const pairA = makePair({
      key: rsaKey('kv-a'),
      notBefore: daysFrom(FIXED_NOW, -1),
      notAfter: daysFrom(FIXED_NOW, 365),
    });
    const pairB = makePair({
      key: rsaKey('kv-b'),
      notBefore: daysFrom(FIXED_NOW, -1),
      notAfter: daysFrom(FIXED_NOW, 365),
    });
    const upload = (pair: typeof pairA) =>
      uploadCertificate(core.deps, admin, 'acme', { certificate: pair.certPem, privateKey: pair.keyPem });
    const applyPending = async () => {
      for (const event of core.published.splice(0).filter((e) => e.type === 'IvrAssignmentRequested')) {
        await applyIvrAssignment(core.deps, event);
      }
    };

    const a = await upload(pairA);
    await applyPending();
    await upload(pairB);
    await applyPending();
    await deleteCertificate(core.deps, admin, 'acme', a.id, true);
    const again = await upload(pairA);

    expect(again.id).toBe(a.id);
    expect(again.key).not.toBe(a.key);
    expect(vault.deleted.has(a.key!.split('/keys/')[1]!.split('/')[0]!)).toBe(true);
    core.close();
  });

  it('never lets removing one upload’s key delete another upload’s key of the same certificate', async () => {
    const vault = softDeletingVault();
    const custody = new KeyVaultCustody(vault.client, cryptoFailing(500));

    const kept = await custody.store(ref, pkcs8(), '');
    const rolledBack = await custody.store(ref, pkcs8(), '');
    await custody.remove(ref, rolledBack.keyRef);

    expect(vault.live.has(kept.keyRef.split('/')[0]!)).toBe(true);
  });
});

describe('KeyVaultCustody: refusals that retrying cannot change are never a 503', () => {
  const kinds: [string, RestError][] = [
    ['409 Conflict', vaultError(409, 'Conflict')],
    ['403 ForbiddenByPolicy', vaultError(403, 'ForbiddenByPolicy')],
    ['403 without a code', serviceError(403)],
    ['an emulator’s 500 carrying Conflict', vaultError(500, 'Conflict')],
    ['an emulator’s 500 carrying Forbidden', vaultError(500, 'Forbidden')],
  ];

  it.each(kinds)('answers %s on import with INTERNAL_ERROR for an operator', async (_label, error) => {
    const keys = injectFault(keyClient(), 'importKey', error, { sticky: true });
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));

    const failure = await custody.store(ref, pkcs8(), '').catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(AppError);
    expect(failure).not.toBeInstanceOf(UnavailableError);
    expect((failure as AppError).code).toBe('INTERNAL_ERROR');
    expect(STATUS_OF[(failure as AppError).code]).toBe(500);
    expect((failure as Error).message).toMatch(/Retrying does not help/);
  });

  it('tries a second fresh name once after a name conflict, and succeeds if that one is free', async () => {
    const keys = injectFault(keyClient(), 'importKey', vaultError(409, 'Conflict'));
    const vault = softDeletingVault();
    const names: string[] = [];
    const custody = new KeyVaultCustody(
      new Proxy(keys, {
        get(target, prop, receiver) {
          if (prop !== 'importKey') return Reflect.get(target, prop, receiver);
          return async (name: string, ...rest: unknown[]) => {
            names.push(name);
            if (names.length === 1) return (target.importKey as (...a: unknown[]) => unknown)(name, ...rest);
            return (vault.client.importKey as (...a: unknown[]) => unknown)(name, ...rest);
          };
        },
      }),
      cryptoFailing(500),
    );

    const stored = await custody.store(ref, pkcs8(), '');

    expect(names).toHaveLength(2);
    expect(names[1]).not.toBe(names[0]);
    expect(stored.keyRef.startsWith(`${names[1]}/`)).toBe(true);
  });

  it.each([
    ['400 BadParameter', vaultError(400, 'BadParameter')],
    ['an emulator’s 500 carrying BadParameter', vaultError(500, 'BadParameter')],
  ])(
    'answers %s on import with 400 UNSUPPORTED_KEY_ALGORITHM naming what the vault holds',
    async (_l, error) => {
      const keys = injectFault(keyClient(), 'importKey', error, { sticky: true });
      const custody = new KeyVaultCustody(keys, cryptoFailing(500));

      const failure = await custody.store(ref, pkcs8(), '').catch((e: unknown) => e);

      expect(failure).toMatchObject({ code: 'UNSUPPORTED_KEY_ALGORITHM' });
      expect(STATUS_OF[(failure as AppError).code]).toBe(400);
      expect((failure as Error).message).toContain('openssl genrsa');
      expect((failure as Error).message).not.toMatch(/BEGIN|PRIVATE KEY/);
    },
  );

  it('refuses a key larger than Key Vault holds with 400 KEY_TOO_LARGE before calling the vault', async () => {
    const keys = injectFault(keyClient(), 'importKey', serviceError(500), { sticky: true });
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));

    const failure = await custody.store(ref, pkcs8('kv-large', 4160), '').catch((e: unknown) => e);

    expect(failure).toMatchObject({ code: 'KEY_TOO_LARGE', details: { keySize: 4160, maxKeySize: 4096 } });
    expect(keys.calls()).toBe(0);
  }, 60_000);

  it('still reports a vault outage (5xx without a refusal code) as unavailable', async () => {
    const keys = injectFault(keyClient(), 'importKey', serviceError(503), { sticky: true });
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));

    await expect(custody.store(ref, pkcs8(), '')).rejects.toBeInstanceOf(UnavailableError);
  });

  it('answers a forbidden unwrap with INTERNAL_ERROR and an emulator’s 500 KeyNotFound with NO_MATCHING_KEY', async () => {
    const forbidden = new KeyVaultCustody(keyClient(), (keyId) =>
      injectFault(new CryptographyClient(keyId, credential), 'unwrapKey', vaultError(403, 'Forbidden'), {
        sticky: true,
      }),
    );
    const missing = new KeyVaultCustody(keyClient(), (keyId) =>
      injectFault(new CryptographyClient(keyId, credential), 'unwrapKey', vaultError(500, 'KeyNotFound'), {
        sticky: true,
      }),
    );
    const keyRef = 'rec-cert-1/0123456789abcdef0123456789abcdef';

    await expect(forbidden.unwrapKey(ref, keyRef, Buffer.alloc(256))).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
    await expect(missing.unwrapKey(ref, keyRef, Buffer.alloc(256))).rejects.toMatchObject({
      code: 'NO_MATCHING_KEY',
    });
  });

  it('refuses to unwrap with a key stored for another certificate, without asking the vault', async () => {
    const asked: string[] = [];
    const custody = new KeyVaultCustody(keyClient(), (keyId) => {
      asked.push(keyId);
      return cryptoFailing(500)(keyId);
    });

    await expect(
      custody.unwrapKey(
        ref,
        `rec-cert-2-${'0'.repeat(32)}/0123456789abcdef0123456789abcdef`,
        Buffer.alloc(256),
      ),
    ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
    expect(asked).toEqual([]);
  });

  it('treats deleting a key whose delete is already under way as done', async () => {
    const keys = injectFault(keyClient(), 'beginDeleteKey', vaultError(409, 'ObjectIsBeingDeleted'));
    const custody = new KeyVaultCustody(keys, cryptoFailing(500));

    await expect(custody.remove(ref, `rec-cert-1-${'a'.repeat(32)}/1`)).resolves.toBeUndefined();
  });
});

describeKeyListingContract('Key Vault (answered in process)', async () => {
  const vault = softDeletingVault();
  return { custody: new KeyVaultCustody(vault.client, vault.cryptographyFor), cleanup: async () => {} };
});

/** Everything a custody lists. */
async function listAll(custody: KeyVaultCustody): Promise<StoredKey[]> {
  const found: StoredKey[] = [];
  for await (const key of custody.listKeys()) found.push(key);
  return found;
}

/** `client` whose `method` (a listing) fails with `error` when its first page is read. */
function failingListing(client: KeyClient, method: string, error: Error): KeyClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== method) return Reflect.get(target, prop, receiver);
      // biome-ignore lint/correctness/useYield: the listing fails before its first item.
      return async function* () {
        throw error;
      };
    },
  });
}

describe('KeyVaultCustody.listKeys', () => {
  const tags = { tenantId: 'tenant-kv', certificateId: 'cert-9' };
  const alias = 'reccert-tenant-kv-0123456789abcdef';

  it('lists only what store made: tagged, named <alias>-<32 hex>, holding one version', async () => {
    const vault = softDeletingVault();
    const custody = new KeyVaultCustody(vault.client, vault.cryptographyFor);
    const stored = await custody.store(ref, pkcs8(), '');
    // A bare alias holds every upload of a certificate as versions (how keys were named before).
    vault.plant(alias, { tags });
    vault.plant(`${alias}-${'a'.repeat(32)}`, { tags, versions: 2 });
    vault.plant(`${alias}-${'b'.repeat(32)}`, {});
    vault.plant(`${alias}-${'c'.repeat(32)}`, { tags, managed: true });

    const listed = await listAll(custody);

    expect(listed).toEqual([
      {
        tenantId: ref.tenantId,
        certificateId: ref.certificateId,
        keyRef: stored.keyRef,
        storedAt: expect.any(Date),
      },
    ]);
  });

  it('skips a key deleted between the key list and the list of its versions', async () => {
    const vault = softDeletingVault();
    await new KeyVaultCustody(vault.client, vault.cryptographyFor).store(ref, pkcs8(), '');
    const custody = new KeyVaultCustody(
      failingListing(vault.client, 'listPropertiesOfKeyVersions', vaultError(404, 'KeyNotFound')),
      vault.cryptographyFor,
    );

    expect(await listAll(custody)).toEqual([]);
  });

  it('reports a vault outage while listing as unavailable, and a refusal as INTERNAL_ERROR', async () => {
    const vault = softDeletingVault();
    await new KeyVaultCustody(vault.client, vault.cryptographyFor).store(ref, pkcs8(), '');
    const down = new KeyVaultCustody(
      failingListing(vault.client, 'listPropertiesOfKeys', serviceError(503)),
      vault.cryptographyFor,
    );
    const refused = new KeyVaultCustody(
      failingListing(vault.client, 'listPropertiesOfKeyVersions', vaultError(403, 'ForbiddenByRbac')),
      vault.cryptographyFor,
    );

    await expect(listAll(down)).rejects.toBeInstanceOf(UnavailableError);
    await expect(listAll(refused)).rejects.toMatchObject({ code: 'INTERNAL_ERROR' });
  });
});

describe('the Azure timer’s orphan-key sweep (Key Vault custody, Table storage on Azurite)', () => {
  const timer: Timer = {
    isPastDue: false,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: '', next: '', lastUpdated: '' },
  };
  const context = () => new InvocationContext({ invocationId: 'sweep', functionName: 'expiryScanDaily' });
  let drop: (() => Promise<void>) | undefined;
  let close: (() => void) | undefined;

  afterEach(async () => {
    close?.();
    await drop?.();
  });

  it('removes a key no certificate holds once it is an hour old, and keeps the certificate’s key', async () => {
    const vault = softDeletingVault();
    const fresh = await freshTables();
    drop = fresh.drop;
    const core = testCore({ flow: 'azure', now: new Date() });
    close = core.close;
    core.deps.repo = new TableCertificateRepository(fresh.tables);
    core.deps.custody = new KeyVaultCustody(vault.client, vault.cryptographyFor);
    const pair = makePair({
      key: rsaKey('kv-sweep'),
      notBefore: daysFrom(new Date(), -1),
      notAfter: daysFrom(new Date(), 365),
    });
    const uploaded = await uploadCertificate(core.deps, { subject: 'alice' }, 'acme', {
      certificate: pair.certPem,
      privateKey: pair.keyPem,
    });
    const stray = await core.deps.custody.store(
      { tenantId: 'acme', certificateId: 'f'.repeat(32), alias: 'reccert-acme-ffffffffffffffff' },
      pkcs8('kv-stray'),
      '',
    );
    const scan = expiryTimerFunction(async () => ({ deps: core.deps }));

    const young = await scan(timer, context());
    core.clock.set(new Date(Date.now() + ORPHAN_MIN_AGE_MS + 60_000));
    const later = await scan(timer, context());

    const record = await core.deps.repo.getCertificate('acme', uploaded.id);
    expect(young.orphanKeysRemoved).toBe(0);
    expect(later.orphanKeysRemoved).toBe(1);
    expect([...vault.live]).toEqual([record!.keyRef.split('/')[0]]);
    expect(vault.deleted.has(stray.keyRef.split('/')[0]!)).toBe(true);
  });
});
