/**
 * The port the decryptor asks for a recording's content-encryption key. Adapters: a local
 * private key (`private-key-unwrapper.ts`, for the CLI and tests), and key custody in each
 * runtime (the local keystore, the KMS-sealed keystore on AWS, Key Vault `unwrapKey` on Azure).
 */

/** Which recipient of a CMS message a wrapped key belongs to (its issuerAndSerialNumber). */
export interface RecipientId {
  /** DER of the issuer Name, byte for byte as in the message. */
  issuerDer: Buffer;
  /** Serial number as `openssl x509 -noout -serial` prints it (upper-case hex). */
  serialHex: string;
}

/** A recipient the decryptor tries, and which of the caller's certificates it is. */
export interface MatchedRecipient extends RecipientId {
  /**
   * Index in `DecryptOptions.certificates` of the certificate with this issuer and serial;
   * absent when no certificates were given (every recipient is then tried).
   */
  certificate?: number;
}

/**
 * Unwraps a session key that was encrypted with RSAES-OAEP (SHA-256, MGF1-SHA-256) to the
 * certificate `recipient` names. Throw an `AppError` with code `NO_MATCHING_KEY` when the key is
 * not held or cannot unwrap it; throw `UnavailableError` when custody is down (a retry may help).
 * Never log or return anything but the unwrapped key.
 */
export interface SessionKeyUnwrapper {
  unwrap(recipient: MatchedRecipient, wrappedKey: Buffer): Promise<Buffer>;
}
