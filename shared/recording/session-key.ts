/**
 * Which recipient of a recording to open it with, and its content-encryption key, within
 * DESIGN section 9's bound on RSA work: at most `MAX_KEY_OPERATIONS` unwrap attempts, however
 * many recipients name a key that is held.
 */
import { hasCode, ValidationError } from '../errors';
import type { RecordingHeader } from './header/auth-enveloped-data';
import { notCms } from './header/errors';
import type { MatchedRecipient, RecipientId, SessionKeyUnwrapper } from './ports';
import { sameRecipient } from './recipients';

/**
 * Most unwrap attempts (private-key operations) one decryption makes, however many recipients
 * name a key that is held: an attacker's message cannot buy more RSA work than this.
 */
export const MAX_KEY_OPERATIONS = 4;

/** An unwrapped content-encryption key (the caller zeroes it) and the recipient it came from. */
export interface SessionKey {
  key: Buffer;
  recipient: MatchedRecipient;
}

/**
 * Tries the recipients that match `ours` (all of them when `ours` is undefined) in the
 * message's order until one unwraps to a key of the cipher's size. Each recipient tried is
 * handed to the unwrapper with the index in `ours` of the certificate it matched. `attempts`
 * counts the unwrap attempts, also while they run. Throws `NO_MATCHING_KEY` when none unwraps
 * (or the bound is reached), `NOT_CMS` when no matching recipient uses RSAES-OAEP SHA-256, and
 * the unwrapper's `SERVICE_UNAVAILABLE` at once.
 */
export async function unwrapSessionKey(
  header: RecordingHeader,
  unwrapper: SessionKeyUnwrapper,
  ours: readonly RecipientId[] | undefined,
  attempts: { count: number },
): Promise<SessionKey> {
  // Each recipient with the certificate it matched: the caller learns which of its
  // certificates opened the message without matching again.
  const candidates = ours
    ? header.recipients.flatMap((r) => {
        const certificate = ours.findIndex((o) => sameRecipient(o, r.id));
        return certificate < 0 ? [] : [{ ...r, id: { ...r.id, certificate } }];
      })
    : header.recipients;
  const listed = header.recipients.map((r) => r.id.serialHex).join(', ') || 'none';
  if (candidates.length === 0) {
    const extra = header.otherRecipientKinds.length ? ` (also ${header.otherRecipientKinds.join(', ')})` : '';
    throw new ValidationError(
      'NO_MATCHING_KEY',
      ours
        ? `This recording was encrypted for certificate serial(s) ${listed}${extra}; none is yours (${ours.map((o) => o.serialHex).join(', ')}). Use the key of a certificate it was encrypted for.`
        : `This recording has no RSA recipient identified by issuer and serial number${extra}.`,
    );
  }
  const usable = candidates.filter((r) => r.unsupported === undefined);
  if (usable.length === 0) {
    throw notCms(`The recording cannot be opened: ${candidates[0]!.unsupported}.`);
  }
  let lastError: unknown;
  for (const r of usable) {
    if (attempts.count === MAX_KEY_OPERATIONS) {
      throw new ValidationError(
        'NO_MATCHING_KEY',
        `No session key could be unwrapped after ${MAX_KEY_OPERATIONS} attempts, the most one recording may cost (${usable.length} recipients could be tried). Name the key's certificate so that only its recipient is tried, or use a recording with fewer recipients for the same key.`,
        { cause: lastError },
      );
    }
    attempts.count++;
    let key: Buffer;
    try {
      key = await unwrapper.unwrap(r.id, r.wrappedKey);
    } catch (error) {
      if (hasCode(error, 'SERVICE_UNAVAILABLE')) throw error;
      lastError = error;
      continue;
    }
    if (key.length !== header.cipher.keyLength) {
      key.fill(0);
      lastError = new Error(`unwrapped ${key.length} bytes, expected a ${header.cipher.keyLength}-byte key`);
      continue;
    }
    return { key, recipient: r.id };
  }
  throw new ValidationError(
    'NO_MATCHING_KEY',
    `The private key could not unwrap this recording's session key (recipient serial ${usable.map((r) => r.id.serialHex).join(', ')}): it is not the key of that certificate, or the wrapped key was altered.`,
    { cause: lastError },
  );
}
