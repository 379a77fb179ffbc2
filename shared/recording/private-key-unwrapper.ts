/**
 * `SessionKeyUnwrapper` over a private key held in this process: the CLI's `--key` file, and
 * the tests. Custody adapters (local keystore, KMS, Key Vault) implement the same port.
 */
import {
  constants,
  createPrivateKey,
  type KeyObject,
  privateDecrypt,
  type X509Certificate,
} from 'node:crypto';
import { ValidationError } from '../errors';
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

function loadKey(key: string | Buffer | KeyObject, password: string | undefined): KeyObject {
  if (typeof key === 'object' && !Buffer.isBuffer(key)) {
    if (key.type !== 'private')
      throw new ValidationError('INVALID_PRIVATE_KEY', 'The key given is not a private key.');
    return key;
  }
  const text = Buffer.isBuffer(key) ? key.toString('latin1') : key;
  if (/ENCRYPTED/.test(text) && !password) {
    throw new ValidationError('PRIVATE_KEY_ENCRYPTED', 'The private key is encrypted; give its password.');
  }
  try {
    return createPrivateKey({ key: text, format: 'pem', ...(password ? { passphrase: password } : {}) });
  } catch (cause) {
    // The message of the cause can quote the input; keep it out of ours.
    if (/ENCRYPTED/.test(text)) {
      throw new ValidationError(
        'PRIVATE_KEY_ENCRYPTED',
        'The private key could not be decrypted: wrong password.',
        {
          cause,
        },
      );
    }
    throw new ValidationError('INVALID_PRIVATE_KEY', 'The private key is not a readable PEM RSA key.', {
      cause,
    });
  }
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
      return privateDecrypt(
        { key: this.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrappedKey,
      );
    } catch (cause) {
      throw new ValidationError('NO_MATCHING_KEY', 'The private key could not unwrap the session key.', {
        cause,
      });
    }
  }
}
