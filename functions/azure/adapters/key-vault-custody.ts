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
 *
 * Key names: every stored key gets a name of its own, `<alias>-<32 random hex digits>`, never
 * reused. Key Vault keeps a deleted key's name reserved while it is soft-deleted (with purge
 * protection on, as our Bicep sets it, for the whole retention period): an import under that
 * name is refused (409 Conflict; some emulators answer 5xx) until it is purged or recovered.
 * Recovering instead was rejected: it brings back every old version of the deleted key, needs the
 * recover permission (the key-custodian role of main.bicep does not grant it) and a long-running
 * operation inside an upload, and the old key must then be re-checked against the new
 * certificate. A fresh name never collides, leaves a deleted key
 * recoverable under its own name for an operator (old recordings may need it), and makes
 * `remove` (which deletes a whole key, all its versions) touch only the upload it belongs to, so
 * rolling back a losing concurrent upload or sweeping an orphan never deletes a live key.
 *
 * Listing (for the orphan sweep) names only such keys: tagged with tenant and certificate, named
 * `<alias>-<32 hex>`, holding one version. A key under a bare alias (how keys were named before)
 * holds every upload of its certificate as versions of one name, and `remove` deletes a name with
 * all its versions, so sweeping an old version there would delete the live one too: never listed.
 */

import type crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { CryptographyClient, JsonWebKey, KeyClient, KeyProperties } from '@azure/keyvault-keys';
import { importCustodyKey } from '../../../shared/custody/sealed-key';
import { AppError, ValidationError } from '../../../shared/errors';
import type { KeyCustody, KeyReference, StoredKey } from '../../../shared/ports';
import { isRetryable, statusOf, toUnavailable } from './azure-errors';

/** The Key Vault API version the adapters speak (Lowkey Vault 3.4.x serves it too). */
export const KEY_VAULT_SERVICE_VERSION = '7.6';

/** Key Vault object names are 1-127 letters, digits and dashes; 33 go to the name suffix. */
const VAULT_ALIAS = /^[0-9A-Za-z-]{1,94}$/;
/** keyRef is `<key name>/<version>`; versions are 32 hex digits in Key Vault. */
const KEY_REF = /^([0-9A-Za-z-]{1,127})\/([0-9A-Za-z]{1,64})$/;
/** What {@link KeyVaultCustody.store} appends to the alias to name one stored key. */
const NAME_SUFFIX = /^-[0-9a-f]{32}$/;
/** The name of a key {@link KeyVaultCustody.store} imported: an alias and the suffix. */
const STORED_NAME = /^[0-9A-Za-z-]{1,94}-[0-9a-f]{32}$/;
/** The largest RSA key Key Vault holds (it takes 2048, 3072 and 4096 bits). */
const MAX_VAULT_KEY_BITS = 4096;
/** Imports under fresh names before a name conflict is reported (one is already unheard of). */
const IMPORT_ATTEMPTS = 2;

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
    const alias = vaultName(ref.alias);
    const jwk = rsaJwkFromPkcs8(pkcs8Der);
    try {
      const bits = bitLength(jwk.n);
      if (bits > MAX_VAULT_KEY_BITS) {
        throw new ValidationError(
          'KEY_TOO_LARGE',
          `Key Vault holds RSA keys of 2048, 3072 or 4096 bits; this key has ${bits}. Make a key it can hold: openssl genrsa -out tenant.key 4096, and a certificate for it.`,
          { details: { field: 'privateKey', keySize: bits, maxKeySize: MAX_VAULT_KEY_BITS } },
        );
      }
      for (let attempt = 1; ; attempt++) {
        const name = `${alias}-${randomBytes(16).toString('hex')}`;
        try {
          const key = await this.keys.importKey(name, jwk, {
            // Not exportable: no release policy exists, so the private key can never leave the vault.
            exportable: false,
            hardwareProtected: false,
            tags: { tenantId: ref.tenantId, certificateId: ref.certificateId },
          });
          const version = key.properties.version;
          const keyId = key.id ?? key.properties.id;
          if (version === undefined || keyId === undefined)
            throw new Error('Key Vault returned a key without a version.');
          return { keyRef: `${name}/${version}`, keyId };
        } catch (error) {
          const refusal = refusalOf(error);
          // A fresh random name cannot be taken; try once more before calling it a fault.
          if (refusal === 'conflict' && attempt < IMPORT_ATTEMPTS) continue;
          throw importFailure(error, refusal);
        }
      }
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
      const refusal = refusalOf(error);
      // 404: never there or already deleted; 409: a delete of it is already under way.
      if (refusal === 'not-found' || refusal === 'conflict') return;
      throw vaultFault(error, refusal, 'delete the key');
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
    const noMatch = () =>
      new AppError(
        'NO_MATCHING_KEY',
        `The session key cannot be unwrapped with the key of certificate '${ref.certificateId}'.`,
        { details: { certificateId: ref.certificateId } },
      );
    // A key serves only the certificate it was stored for (names: see the module comment;
    // a bare alias is how keys were named before).
    if (!belongsTo(name, ref.alias)) throw noMatch();
    const keyId = `${this.keys.vaultUrl.replace(/\/+$/, '')}/keys/${name}/${version}`;
    try {
      const result = await this.cryptographyFor(keyId).unwrapKey('RSA-OAEP-256', wrappedKey);
      return Buffer.from(result.result);
    } catch (error) {
      const refusal = refusalOf(error);
      // 404: no such key; 400: the ciphertext was not made for this key. Either way, not ours.
      if (refusal === 'not-found' || refusal === 'bad-request') throw noMatch();
      throw vaultFault(error, refusal, 'unwrap with the key');
    }
  }

  /** The keys {@link store} imported (see the module comment); `storedAt` is the vault's created time. */
  async *listKeys(): AsyncIterable<StoredKey> {
    const keys = this.keys.listPropertiesOfKeys()[Symbol.asyncIterator]();
    while (true) {
      let next: IteratorResult<KeyProperties>;
      try {
        next = await keys.next();
      } catch (error) {
        throw vaultFault(error, refusalOf(error), 'list the keys');
      }
      if (next.done) return;
      const { name, tags, managed, createdOn } = next.value;
      const tenantId = tags?.tenantId;
      const certificateId = tags?.certificateId;
      if (tenantId === undefined || certificateId === undefined || managed || !STORED_NAME.test(name))
        continue;
      const version = await this.onlyVersion(name);
      if (version === undefined) continue;
      yield {
        tenantId,
        certificateId,
        keyRef: `${name}/${version}`,
        ...(createdOn ? { storedAt: createdOn } : {}),
      };
    }
  }

  /** The version of a key that has exactly one, else undefined (also when it is gone meanwhile). */
  private async onlyVersion(name: string): Promise<string | undefined> {
    const versions: (string | undefined)[] = [];
    try {
      for await (const properties of this.keys.listPropertiesOfKeyVersions(name)) {
        versions.push(properties.version);
        // A second one is enough to know the name is not one upload's.
        if (versions.length > 1) break;
      }
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal === 'not-found') return undefined;
      throw vaultFault(error, refusal, 'list the versions of a key');
    }
    return versions.length === 1 ? versions[0] : undefined;
  }
}

/**
 * The JWK Key Vault's `importKey` wants for an RSA private key given as PKCS#8 DER, allowed only
 * to decrypt and unwrap (what the recording key needs, nothing else).
 */
export function rsaJwkFromPkcs8(pkcs8Der: Buffer): JsonWebKey {
  const exported: crypto.JsonWebKey = importCustodyKey(pkcs8Der).export({ format: 'jwk' });
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
  if (!VAULT_ALIAS.test(alias)) {
    throw new AppError('VALIDATION_ERROR', "The key alias must be 1-94 letters, digits or '-'.", {
      details: { alias: alias.slice(0, 127) },
    });
  }
  return alias;
}

/** Whether the vault key `name` was stored for the certificate whose alias is `alias`. */
function belongsTo(name: string, alias: string): boolean {
  return name === alias || (name.startsWith(alias) && NAME_SUFFIX.test(name.slice(alias.length)));
}

/** Bits of an unsigned big-endian integer. */
function bitLength(bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** A refusal by the vault that retrying cannot change. */
type Refusal = 'conflict' | 'bad-request' | 'forbidden' | 'not-found';

const REFUSAL_OF_CODE: Readonly<Record<string, Refusal>> = Object.assign(Object.create(null), {
  Conflict: 'conflict',
  ObjectIsDeletedButRecoverable: 'conflict',
  ObjectIsBeingDeleted: 'conflict',
  BadParameter: 'bad-request',
  BadRequest: 'bad-request',
  InvalidParameter: 'bad-request',
  KeyNotSupported: 'bad-request',
  Forbidden: 'forbidden',
  ForbiddenByPolicy: 'forbidden',
  ForbiddenByRbac: 'forbidden',
  ForbiddenByConnection: 'forbidden',
  ForbiddenByFirewall: 'forbidden',
  AccessDenied: 'forbidden',
  Unauthorized: 'forbidden',
  KeyNotFound: 'not-found',
  NotFound: 'not-found',
});

/**
 * What the vault refused, if it refused: by the error code in its answer first, since an emulator
 * may send a 4xx's code with a 5xx status (DESIGN section 8), then by the status.
 */
function refusalOf(error: unknown): Refusal | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && Object.hasOwn(REFUSAL_OF_CODE, code)) return REFUSAL_OF_CODE[code];
  switch (statusOf(error)) {
    case 409:
      return 'conflict';
    case 400:
      return 'bad-request';
    case 401:
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    default:
      return undefined;
  }
}

/** The vault's error code, for details (never a request payload). */
function vaultCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code.slice(0, 100) : undefined;
}

/**
 * A failed import as the caller should see it: a key the vault will not hold is the caller's to
 * change (400); a refusal no retry can change is ours (500, for an operator); only what a retry
 * may fix is a 503.
 */
function importFailure(error: unknown, refusal: Refusal | undefined): unknown {
  if (refusal === 'bad-request') {
    return new ValidationError(
      'UNSUPPORTED_KEY_ALGORITHM',
      'Key Vault refused to import this key. It holds RSA keys of 2048, 3072 or 4096 bits with public exponent 65537; make one with: openssl genrsa -out tenant.key 2048, and a certificate for it.',
      {
        details: { field: 'privateKey', ...(vaultCode(error) ? { vaultError: vaultCode(error) } : {}) },
        cause: error,
      },
    );
  }
  return vaultFault(error, refusal, 'import the key');
}

/** A vault failure that is not the caller's: 503 if a retry may fix it, else a 500 for an operator. */
function vaultFault(error: unknown, refusal: Refusal | undefined, what: string): unknown {
  if (refusal === undefined && (isRetryable(error) || statusOf(error) === undefined)) {
    return toUnavailable('Key Vault', error);
  }
  const reason =
    refusal === 'forbidden'
      ? "access was refused (check the function app identity's key-custodian role assignment in main.bicep, the vault's network rules and Azure Policy)"
      : refusal === 'conflict'
        ? 'the key name is taken'
        : refusal === 'not-found'
          ? 'the vault does not know it'
          : `it answered ${statusOf(error)}`;
  return new AppError(
    'INTERNAL_ERROR',
    `Key Vault would not ${what}: ${reason}. Retrying does not help; an operator must fix the vault.`,
    {
      details: { ...(vaultCode(error) ? { vaultError: vaultCode(error) } : {}), status: statusOf(error) },
      cause: error,
    },
  );
}

/** Best effort: overwrite the private components once the request is sent. */
function wipeJwk(jwk: JsonWebKey): void {
  for (const part of [jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi]) part?.fill(0);
}
