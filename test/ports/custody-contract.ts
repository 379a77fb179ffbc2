/**
 * The behaviour every `KeyCustody` adapter must show (local file keystore, S3+KMS keystore, Key
 * Vault). It talks only to the port. Keys are generated at test time; each gets a real self-signed
 * certificate (openssl CLI) because vault adapters import key and certificate together.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyCustody, KeyReference, StoredKey } from '../../shared/ports';
import { uniqueTenantId } from './fixtures';

/** What a contract run needs from an adapter: a custody and a way to dispose of it. */
export type CustodyFactory = () => Promise<{ custody: KeyCustody; cleanup(): Promise<void> }>;

/** An RSA key made at test time, with its PKCS#8 DER and a matching self-signed certificate. */
export interface TestKeyMaterial {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  pkcs8Der: Buffer;
  certificatePem: string;
}

/** Generates a 2048-bit RSA key and a self-signed certificate allowing keyEncipherment. */
export function makeKeyMaterial(commonName = 'custody-contract'): TestKeyMaterial {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs8Der = privateKey.export({ type: 'pkcs8', format: 'der' });
  // openssl reads the key only from a file: a private temp dir that is removed at once.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-keymat-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const certificatePem = execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-subj',
        `/CN=${commonName}/O=reccert tests/C=DE`,
        '-days',
        '30',
        '-addext',
        'keyUsage=critical,keyEncipherment,digitalSignature',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString('utf8');
    return { privateKey, publicKey, pkcs8Der, certificatePem };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Wraps a session key as a CMS recipient would: RSAES-OAEP, SHA-256, MGF1-SHA-256. */
export function wrapSessionKey(publicKey: crypto.KeyObject, sessionKey: Buffer): Buffer {
  return crypto.publicEncrypt(
    { key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    sessionKey,
  );
}

/** A custody's listing of one tenant's keys (stores may be shared with other tests). */
export async function listedKeysOf(custody: KeyCustody, tenantId: string): Promise<StoredKey[]> {
  const found: StoredKey[] = [];
  for await (const key of custody.listKeys()) if (key.tenantId === tenantId) found.push(key);
  return found;
}

function reference(tenantId = uniqueTenantId(), certificateId = crypto.randomUUID()): KeyReference {
  return { tenantId, certificateId, alias: `rec-${certificateId.slice(0, 8)}` };
}

/** A fresh custody from `factory` for each test of the enclosing describe, disposed of after it. */
function custodyPerTest(factory: CustodyFactory): { readonly custody: KeyCustody } {
  let current: Awaited<ReturnType<CustodyFactory>> | undefined;
  beforeEach(async () => {
    current = await factory();
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get custody(): KeyCustody {
      if (current === undefined) throw new Error('A custody exists only inside a test.');
      return current.custody;
    },
  };
}

/**
 * Declares the key custody contract suite for one adapter: storing, unwrapping, removing and
 * tenant isolation, and the listing ({@link describeKeyListingContract}).
 */
export function describeCustodyContract(name: string, factory: CustodyFactory): void {
  describeKeyListingContract(name, factory);
  describe(`KeyCustody contract: ${name}`, () => {
    const fresh = custodyPerTest(factory);
    let keyA: TestKeyMaterial;
    let keyB: TestKeyMaterial;

    beforeAll(() => {
      keyA = makeKeyMaterial('custody-a');
      keyB = makeKeyMaterial('custody-b');
    });

    it('unwraps a session key wrapped with the stored key’s public key', async () => {
      const ref = reference();
      const sessionKey = crypto.randomBytes(32);
      const { keyRef } = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      const unwrapped = await fresh.custody.unwrapKey(
        ref,
        keyRef,
        wrapSessionKey(keyA.publicKey, sessionKey),
      );

      expect(unwrapped.equals(sessionKey)).toBe(true);
    });

    it('hands an exportable key back exactly as stored, and only to its own certificate', async () => {
      if (fresh.custody.exportKey === undefined) {
        // A custody whose keys never leave it (Key Vault) has no export at all.
        expect(fresh.custody.exportKey).toBeUndefined();
        return;
      }
      const ref = reference();
      const { keyRef } = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      const exported = await fresh.custody.exportKey(ref, keyRef);

      expect(exported.equals(keyA.pkcs8Der)).toBe(true);
      await expect(
        fresh.custody.exportKey({ ...ref, certificateId: 'another-certificate' }, keyRef),
      ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
      await expect(
        fresh.custody.exportKey({ ...ref, tenantId: uniqueTenantId('other') }, keyRef),
      ).rejects.toThrow();
    });

    it('returns a reference only, never key bytes', async () => {
      const result = await fresh.custody.store(reference(), keyA.pkcs8Der, keyA.certificatePem);

      const serialized = JSON.stringify(result);
      expect(typeof result.keyRef).toBe('string');
      expect(serialized).not.toContain(keyA.pkcs8Der.toString('base64').slice(40, 100));
      expect(serialized).not.toContain(keyA.pkcs8Der.toString('hex').slice(80, 200));
    });

    it('gives a second store for the same certificate a different keyRef, and both work', async () => {
      const ref = reference();
      const sessionKey = crypto.randomBytes(32);
      const first = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);
      const second = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      const wrapped = wrapSessionKey(keyA.publicKey, sessionKey);

      expect(second.keyRef).not.toBe(first.keyRef);
      expect((await fresh.custody.unwrapKey(ref, first.keyRef, wrapped)).equals(sessionKey)).toBe(true);
      expect((await fresh.custody.unwrapKey(ref, second.keyRef, wrapped)).equals(sessionKey)).toBe(true);
    });

    it('refuses a session key wrapped for another key', async () => {
      const ref = reference();
      const { keyRef } = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      await expect(
        fresh.custody.unwrapKey(ref, keyRef, wrapSessionKey(keyB.publicKey, crypto.randomBytes(32))),
      ).rejects.toThrow();
    });

    it('cannot unwrap after remove, and removing twice is fine', async () => {
      const ref = reference();
      const wrapped = wrapSessionKey(keyA.publicKey, crypto.randomBytes(32));
      const { keyRef } = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      await fresh.custody.remove(ref, keyRef);
      await fresh.custody.remove(ref, keyRef);

      await expect(fresh.custody.unwrapKey(ref, keyRef, wrapped)).rejects.toThrow();
    });

    it('removes only the key it is asked to remove', async () => {
      const ref = reference();
      const sessionKey = crypto.randomBytes(32);
      const kept = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);
      const removed = await fresh.custody.store(ref, keyA.pkcs8Der, keyA.certificatePem);

      await fresh.custody.remove(ref, removed.keyRef);

      const unwrapped = await fresh.custody.unwrapKey(
        ref,
        kept.keyRef,
        wrapSessionKey(keyA.publicKey, sessionKey),
      );
      expect(unwrapped.equals(sessionKey)).toBe(true);
    });

    it('does not let tenant B use a key stored for tenant A', async () => {
      const certificateId = crypto.randomUUID();
      const refA = reference(uniqueTenantId('ta'), certificateId);
      const refB = reference(uniqueTenantId('tb'), certificateId);
      const wrapped = wrapSessionKey(keyA.publicKey, crypto.randomBytes(32));
      const { keyRef } = await fresh.custody.store(refA, keyA.pkcs8Der, keyA.certificatePem);

      await expect(fresh.custody.unwrapKey(refB, keyRef, wrapped)).rejects.toThrow();
      await fresh.custody.remove(refB, keyRef);

      expect((await fresh.custody.unwrapKey(refA, keyRef, wrapped)).length).toBe(32);
    });

    it('does not let another certificate of the same tenant use the key', async () => {
      const refA = reference();
      const other = reference(refA.tenantId);
      const wrapped = wrapSessionKey(keyA.publicKey, crypto.randomBytes(32));
      const { keyRef } = await fresh.custody.store(refA, keyA.pkcs8Der, keyA.certificatePem);

      await expect(fresh.custody.unwrapKey(other, keyRef, wrapped)).rejects.toThrow();
    });
  });
}

/** Declares the listing part of the custody contract (`KeyCustody.listKeys`, for the orphan sweep). */
export function describeKeyListingContract(name: string, factory: CustodyFactory): void {
  describe(`KeyCustody contract, listing: ${name}`, () => {
    const fresh = custodyPerTest(factory);
    let key: TestKeyMaterial;

    beforeAll(() => {
      key = makeKeyMaterial('custody-listing');
    });

    it('lists a stored key with its tenant, certificate and keyRef, and when it was stored', async () => {
      const ref = reference();
      const before = Date.now();
      const { keyRef } = await fresh.custody.store(ref, key.pkcs8Der, key.certificatePem);

      const listed = await listedKeysOf(fresh.custody, ref.tenantId);

      expect(listed).toEqual([
        { tenantId: ref.tenantId, certificateId: ref.certificateId, keyRef, storedAt: expect.any(Date) },
      ]);
      // Stores keep their own clocks (and S3 whole seconds): within a few minutes of this one.
      const storedAt = listed[0]!.storedAt!.getTime();
      expect(storedAt).toBeGreaterThan(before - 5 * 60_000);
      expect(storedAt).toBeLessThan(Date.now() + 5 * 60_000);
    });

    it('lists each upload of a certificate apart, and no longer lists a removed one', async () => {
      const ref = reference();
      const removed = await fresh.custody.store(ref, key.pkcs8Der, key.certificatePem);
      const kept = await fresh.custody.store(ref, key.pkcs8Der, key.certificatePem);
      const both = (await listedKeysOf(fresh.custody, ref.tenantId)).map((k) => k.keyRef).sort();

      await fresh.custody.remove(ref, removed.keyRef);

      expect(both).toEqual([removed.keyRef, kept.keyRef].sort());
      expect((await listedKeysOf(fresh.custody, ref.tenantId)).map((k) => k.keyRef)).toEqual([kept.keyRef]);
    });

    it('hands the sweep what removes the key: the listed key removes by its own reference', async () => {
      const ref = reference();
      const sessionKey = crypto.randomBytes(32);
      const { keyRef } = await fresh.custody.store(ref, key.pkcs8Der, key.certificatePem);
      const [listed] = await listedKeysOf(fresh.custody, ref.tenantId);

      await fresh.custody.remove(
        { tenantId: listed!.tenantId, certificateId: listed!.certificateId, alias: '' },
        listed!.keyRef,
      );

      expect(await listedKeysOf(fresh.custody, ref.tenantId)).toEqual([]);
      await expect(
        fresh.custody.unwrapKey(ref, keyRef, wrapSessionKey(key.publicKey, sessionKey)),
      ).rejects.toThrow();
    });
  });
}
