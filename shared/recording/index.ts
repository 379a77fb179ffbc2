/**
 * Recording encryption and playback (DESIGN section 6): CMS AuthEnvelopedData with AES-256-GCM
 * and RSAES-OAEP SHA-256 key transport, streamed both ways in constant memory, byte-compatible
 * with `openssl cms -encrypt -aes-256-gcm` / `openssl cms -decrypt`.
 *
 * Encrypt: {@link encryptFile} or {@link createEncryptStream}.
 * Rewrap (new recipients, same content and tag): {@link rewrapFile} or {@link createRewrapStream}.
 * Decrypt: {@link decryptFile} (safe: the output appears only once authenticated),
 * {@link decryptStream} or {@link createDecryptStream} (streamed: discard the output unless
 * `completed` resolves). Errors carry the codes `NOT_CMS`, `NO_MATCHING_KEY` and
 * `INTEGRITY_CHECK_FAILED` (`ValidationError`); an unavailable custody surfaces as
 * `UnavailableError`.
 */
export {
  CmsDecryptStream,
  createDecryptStream,
  type DecryptFileOptions,
  type DecryptOptions,
  type DecryptResult,
  decryptFile,
  decryptStream,
  MAX_KEY_OPERATIONS,
  MAX_RECIPIENTS,
} from './decryptor';
export {
  CmsEncryptStream,
  createEncryptStream,
  type EncryptFileOptions,
  type EncryptOptions,
  encryptFile,
  UPDATE_SIZE,
} from './encryptor';
export { type ChunkOptions, READ_CHUNK_SIZE } from './files';
export type { MatchedRecipient, RecipientId, SessionKeyUnwrapper } from './ports';
export { PrivateKeyUnwrapper, type PrivateKeyUnwrapperOptions } from './private-key-unwrapper';
export { type CertificateInput, toRecipient, wrapSessionKey } from './recipients';
export {
  CmsRewrapStream,
  createRewrapStream,
  createTagVerifier,
  planRewrap,
  type RewrapOptions,
  type RewrapPlan,
  type RewrapResult,
  rewrapFile,
} from './rewrap';
