import crypto from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import {
  KEY_VAULT_SERVICE_VERSION,
  KeyVaultCustody,
  parseKeyRef,
  rsaJwkFromPkcs8,
} from '../../functions/azure/adapters/key-vault-custody';
import { AppError, UnavailableError } from '../../shared/errors';
import type { KeyReference } from '../../shared/ports';
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
