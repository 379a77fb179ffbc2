/**
 * Key custody in Azure Key Vault (DESIGN section 2, Azure flow): the uploaded private key is
 * imported as a NON-exportable RSA key and afterwards only used inside the vault — unwrapping a
 * recording's session key is Key Vault's `unwrapKey` with RSA-OAEP-256 — so the key bytes never
 * leave it again.
 *
 * Why no certificate import (`@azure/keyvault-certificates`): importing a certificate needs the
 * private key again and creates a managed key whose operations come from the certificate's
 * KeyUsage, plus a secret that holds the private key (readable by anyone with secret access unless
 * the policy marks it non-exportable). The certificate itself is public and already stored and
 * listed from Table storage, so only the key goes to the vault, with exactly the operations it needs.
 */
import type crypto from 'node:crypto';
import type { CryptographyClient, JsonWebKey, KeyClient } from '@azure/keyvault-keys';
import { AppError } from '../../../shared/errors';
import { importPrivateKeyDer } from '../../../shared/pki/rsa-key-import';
import type { KeyCustody, KeyReference } from '../../../shared/ports';
import { callAzure, statusOf, toUnavailable } from './azure-errors';

/** The Key Vault API version the adapters speak (Lowkey Vault 3.4.x serves it too). */
export const KEY_VAULT_SERVICE_VERSION = '7.6';

/** Key Vault object names: 1-127 letters, digits and dashes. */
const VAULT_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** keyRef is `<key name>/<version>`; versions are 32 hex digits in Key Vault. */
const KEY_REF = /^([0-9A-Za-z-]{1,127})\/([0-9A-Za-z]{1,64})$/;

/** Options for {@link KeyVaultCustody}. */
export interface KeyVaultCustodyOptions {
  /**
   * Purge a deleted key right away where the vault allows it. Leave off in production: with purge
   * protection on (our Bicep turns it on) the purge is refused and the key stays recoverable for
   * the retention period, which is what an accidental delete needs.
   */
  purgeOnRemove?: boolean;
}

/** `KeyCustody` on Azure Key Vault keys. */
export class KeyVaultCustody implements KeyCustody {
  /**
   * @param keys the vault's key client (managed identity in Azure, a test credential here).
   * @param cryptographyFor a cryptography client for a full key id (`<vault>/keys/<name>/<version>`).
   */
  constructor(
    private readonly keys: KeyClient,
    private readonly cryptographyFor: (keyId: string) => CryptographyClient,
    private readonly options: KeyVaultCustodyOptions = {},
  ) {}

  async store(
    ref: KeyReference,
    pkcs8Der: Buffer,
    _certificatePem: string,
  ): Promise<{ keyRef: string; keyId: string }> {
    const name = vaultName(ref.alias);
    const jwk = rsaJwkFromPkcs8(pkcs8Der);
    try {
      const key = await callAzure('Key Vault', () =>
        this.keys.importKey(name, jwk, {
          // Not exportable: no release policy exists, so the private key can never leave the vault.
          exportable: false,
          hardwareProtected: false,
          tags: { tenantId: ref.tenantId, certificateId: ref.certificateId },
        }),
      );
      const version = key.properties.version;
      const keyId = key.id ?? key.properties.id;
      if (version === undefined || keyId === undefined)
        throw new Error('Key Vault returned a key without a version.');
      return { keyRef: `${name}/${version}`, keyId };
    } finally {
      wipeJwk(jwk);
    }
  }

  async remove(_ref: KeyReference, keyRef: string): Promise<void> {
    const { name } = parseKeyRef(keyRef);
    try {
      const poller = await this.keys.beginDeleteKey(name);
      await poller.pollUntilDone();
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw toUnavailable('Key Vault', error);
    }
    if (this.options.purgeOnRemove) {
      try {
        await this.keys.purgeDeletedKey(name);
      } catch (error) {
        // 403/409: purge protection or no purge permission; the key is deleted and recoverable.
        const status = statusOf(error);
        if (status === 404 || status === 403 || status === 409) return;
        throw toUnavailable('Key Vault', error);
      }
    }
  }

  async unwrapKey(ref: KeyReference, keyRef: string, wrappedKey: Buffer): Promise<Buffer> {
    const { name, version } = parseKeyRef(keyRef);
    const keyId = `${this.keys.vaultUrl.replace(/\/+$/, '')}/keys/${name}/${version}`;
    try {
      const result = await this.cryptographyFor(keyId).unwrapKey('RSA-OAEP-256', wrappedKey);
      return Buffer.from(result.result);
    } catch (error) {
      const status = statusOf(error);
      // 404: no such key; 400: the ciphertext was not made for this key. Either way, not ours.
      if (status === 404 || status === 400) {
        throw new AppError(
          'NO_MATCHING_KEY',
          `The session key cannot be unwrapped with the key of certificate '${ref.certificateId}'.`,
          { details: { certificateId: ref.certificateId } },
        );
      }
      throw toUnavailable('Key Vault', error);
    }
  }
}

/**
 * The JWK Key Vault's `importKey` wants for an RSA private key given as PKCS#8 DER, allowed only
 * to decrypt and unwrap (what the recording key needs, nothing else).
 */
export function rsaJwkFromPkcs8(pkcs8Der: Buffer): JsonWebKey {
  let exported: crypto.JsonWebKey;
  try {
    const key = importPrivateKeyDer(pkcs8Der, 'pkcs8');
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    exported = key.export({ format: 'jwk' });
  } catch {
    // The core validates uploads; reaching this is a wiring bug, so a plain error (no key bytes).
    throw new Error('Key custody accepts only an RSA private key as PKCS#8 DER.');
  }
  const part = (name: 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'): Uint8Array => {
    const value = exported[name];
    if (typeof value !== 'string') throw new Error(`The RSA key lacks its '${name}' component.`);
    return Buffer.from(value, 'base64url');
  };
  return {
    kty: 'RSA',
    keyOps: ['unwrapKey', 'decrypt'],
    n: part('n'),
    e: part('e'),
    d: part('d'),
    p: part('p'),
    q: part('q'),
    dp: part('dp'),
    dq: part('dq'),
    qi: part('qi'),
  };
}

/** `{ name, version }` of a keyRef written by {@link KeyVaultCustody.store}. */
export function parseKeyRef(keyRef: string): { name: string; version: string } {
  const match = KEY_REF.exec(keyRef);
  if (match === null) {
    throw new AppError('NO_MATCHING_KEY', 'The key reference is not a Key Vault key reference.', {
      details: { keyRef: keyRef.slice(0, 200) },
    });
  }
  return { name: match[1]!, version: match[2]! };
}

function vaultName(alias: string): string {
  if (!VAULT_NAME.test(alias)) {
    throw new AppError('VALIDATION_ERROR', "The key alias must be 1-127 letters, digits or '-'.", {
      details: { alias: alias.slice(0, 127) },
    });
  }
  return alias;
}

/** Best effort: overwrite the private components once the request is sent. */
function wipeJwk(jwk: JsonWebKey): void {
  for (const part of [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]) part?.fill(0);
}
