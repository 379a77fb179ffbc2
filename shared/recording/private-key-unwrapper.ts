/**
 * `SessionKeyUnwrapper` over a private key held in this process: the CLI's `--key` file, and
 * the tests. Custody adapters (local keystore, KMS, Key Vault) implement the same port.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { ValidationError } from '../errors';
import { checkLoadedRsaKey } from '../pki/private-key';
import { unwrapOaepSha256 } from '../pki/rsa-oaep';
import { ANY_KEY_FORMAT, parsePrivateKeyInput } from '../pki/validate';
import type { RecipientId, SessionKeyUnwrapper } from './ports';
import { type CertificateInput, type Recipient, sameRecipient, toRecipient } from './recipients';

/** Where the private key comes from. */
export interface PrivateKeyUnwrapperOptions {
  /** PEM (PKCS#1, PKCS#8 or encrypted PKCS#8) or an already loaded KeyObject. */
  privateKey: string | Buffer | KeyObject;
  /** Password of an encrypted PEM key. */
  password?: string;
  /**
   * The certificate the key belongs to: it names the recipient this key can open. Without it the
   * key is tried on every recipient, as `openssl cms -decrypt` does without `-recip`.
   */
  certificate?: CertificateInput;
}

/**
 * The key, with the upload's rules and codes: rule 2's checks, and section 9's limits on an
 * encrypted key's derivation (which runs here, on the calling thread: this class serves tools).
 */
function loadKey(key: string | Buffer | KeyObject, password: string | undefined): KeyObject {
  if (typeof key === 'object' && !Buffer.isBuffer(key)) {
    if (key.type !== 'private')
      throw new ValidationError('INVALID_PRIVATE_KEY', 'The key given is not a private key.');
    if (key.asymmetricKeyType === 'rsa') checkLoadedRsaKey(key);
    return key;
  }
  const text = Buffer.isBuffer(key) ? key.toString('latin1') : key;
  return parsePrivateKeyInput(text, password, ANY_KEY_FORMAT).key;
}

/** Unwraps session keys with a private key (that matches `certificate`, when given). */
export class PrivateKeyUnwrapper implements SessionKeyUnwrapper {
  private readonly key: KeyObject;
  private readonly recipient: Recipient | undefined;

  constructor(options: PrivateKeyUnwrapperOptions) {
    this.recipient = options.certificate === undefined ? undefined : toRecipient(options.certificate);
    this.key = loadKey(options.privateKey, options.password);
    if (this.key.asymmetricKeyType !== 'rsa') {
      throw new ValidationError('UNSUPPORTED_KEY_ALGORITHM', 'Recording keys are RSA keys.');
    }
    if (this.recipient && !this.recipient.certificate.checkPrivateKey(this.key)) {
      throw new ValidationError(
        'KEY_MISMATCH',
        'The private key does not belong to the certificate given with it.',
      );
    }
  }

  /** The certificate this key opens, to pass as `DecryptOptions.certificates` (if given). */
  get certificate(): X509Certificate | undefined {
    return this.recipient?.certificate;
  }

  async unwrap(recipient: RecipientId, wrappedKey: Buffer): Promise<Buffer> {
    if (this.recipient && !sameRecipient(recipient, this.recipient)) {
      throw new ValidationError(
        'NO_MATCHING_KEY',
        `This key belongs to certificate serial ${this.recipient.serialHex}, not ${recipient.serialHex}.`,
      );
    }
    try {
      return await unwrapOaepSha256(this.key, wrappedKey);
    } catch (cause) {
      throw new ValidationError('NO_MATCHING_KEY', 'The private key could not unwrap the session key.', {
        cause,
      });
    }
  }
}
