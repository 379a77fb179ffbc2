/**
 * RSAES-OAEP (SHA-256, MGF1-SHA-256) unwrapping off the event loop. `privateDecrypt` runs the
 * RSA private operation on the calling thread: about 0.1 s at 16384 bits, during which nothing
 * else is served. WebCrypto's jobs run on the libuv threadpool, so other requests keep being
 * answered meanwhile (DESIGN section 9).
 */
import { type KeyObject, webcrypto } from 'node:crypto';

const OAEP_SHA256 = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;
const imported = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();

function cryptoKeyOf(privateKey: KeyObject): Promise<webcrypto.CryptoKey> {
  let key = imported.get(privateKey);
  if (!key) {
    key = webcrypto.subtle.importKey(
      'pkcs8',
      privateKey.export({ type: 'pkcs8', format: 'der' }),
      OAEP_SHA256,
      false,
      ['decrypt'],
    );
    imported.set(privateKey, key);
  }
  return key;
}

/**
 * Unwraps an RSAES-OAEP SHA-256 wrapped key with `privateKey`, on the libuv threadpool. Rejects
 * (with WebCrypto's OperationError) when the wrapped key was not made for this key.
 */
export async function unwrapOaepSha256(privateKey: KeyObject, wrapped: Buffer): Promise<Buffer> {
  const plaintext = await webcrypto.subtle.decrypt(
    { name: 'RSA-OAEP' },
    await cryptoKeyOf(privateKey),
    wrapped,
  );
  return Buffer.from(plaintext);
}
