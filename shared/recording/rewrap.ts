/**
 * Rewrap (DESIGN section 10): hand a recording to other certificates by rewriting its header
 * alone. The recipientInfos of AuthEnvelopedData lie outside the GCM authentication, so the
 * session key is unwrapped once, wrapped for each target, and everything after the recipients
 * (the encrypted content, the mac, the closing octets) is copied byte for byte.
 *
 * The copy is not trusted blindly: the same bytes go through the decryptor (plaintext
 * discarded), so the stream ends only once the tag verified, and errors with
 * `INTEGRITY_CHECK_FAILED` otherwise; a caller that writes a file renames it only on success.
 *
 * For engines that copy the content themselves (a multipart upload whose later parts are
 * server-side copies), {@link planRewrap} gives the new header bytes and the input offset from
 * which the original is copied unchanged, and {@link createTagVerifier} checks a recording's tag
 * with a known session key as its bytes stream past.
 */
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../errors';
import { der } from '../pki/der';
import { definiteHeader } from './ber';
import { RSAES_OAEP_SHA256_ALGORITHM } from './cms';
import { type CmsDecryptStream, createDecryptStream } from './decryptor';
import { READ_CHUNK_SIZE, writeAtomically } from './files';
import { parseRecordingHeader, type RecordingHeader } from './header/auth-enveloped-data';
import { MAX_RECIPIENTS, tooManyRecipients } from './header/errors';
import type { MatchedRecipient, SessionKeyUnwrapper } from './ports';
import {
  type CertificateInput,
  type Recipient,
  sameRecipient,
  toRecipient,
  wrapSessionKey,
} from './recipients';

/** What to rewrap a recording for. */
export interface RewrapOptions {
  /** The target certificates: the session key is wrapped for each (RSA-OAEP-SHA256). */
  to: readonly CertificateInput[];
  /** Keep the recording's current recipients and add the targets (default: replace them). */
  keepRecipients?: boolean;
  /** Certificates whose keys the unwrapper holds, as `DecryptOptions.certificates`. */
  certificates?: readonly CertificateInput[];
  /** Most bytes accepted before the encrypted content starts (default 1 MiB). */
  maxHeaderBytes?: number;
}

/** What a successful rewrap tells the caller (for reports and the audit trail). */
export interface RewrapResult {
  /** The recipient whose wrapped key was unwrapped. */
  recipient: MatchedRecipient;
  /** Unwrap attempts (private-key operations) it took. */
  unwrapAttempts: number;
  /** RecipientInfos in the new header. */
  recipients: number;
  bytesIn: number;
  bytesOut: number;
}

/** The new header and where in the original the unchanged copy starts. */
export interface RewrapPlan {
  /** The bytes that replace the original's first `copyFrom` bytes. */
  header: Buffer;
  /** Offset in the original of the first byte copied unchanged (just past its recipientInfos). */
  copyFrom: number;
  /** RecipientInfos in the new header. */
  recipients: number;
}

const VERSION_0 = der.integer(0);

/** The KeyTransRecipientInfo of `recipient` carrying `key`, as the encryptor writes it. */
function recipientInfo(recipient: Recipient, key: Buffer): Buffer {
  return der.sequence(
    VERSION_0,
    der.sequence(recipient.issuerDer, recipient.serialTlv),
    RSAES_OAEP_SHA256_ALGORITHM,
    der.octetString(wrapSessionKey(recipient, key)),
  );
}

/** Reads the target certificates; refuses none, or more than a recording may carry. */
export function rewrapTargets(to: readonly CertificateInput[]): Recipient[] {
  if (to.length === 0) {
    throw new ValidationError('VALIDATION_ERROR', 'Rewrapping needs at least one target certificate.');
  }
  const targets: Recipient[] = [];
  for (const input of to) {
    const r = toRecipient(input);
    if (!targets.some((t) => sameRecipient(t, r))) targets.push(r);
  }
  if (targets.length > MAX_RECIPIENTS) throw tooManyRecipients();
  return targets;
}

/**
 * Builds the rewrapped header from a parsed header and the input bytes it was parsed from
 * (at least up to `header.contentStart`). The outer containers keep their form: a definite
 * length is adjusted by the size change of the recipients, an indefinite one stays indefinite,
 * so a DER recording stays DER and a streamed (BER) one stays streamed.
 */
export function rewriteHeader(
  header: RecordingHeader,
  input: Buffer,
  key: Buffer,
  targets: readonly Recipient[],
  keepRecipients: boolean,
): RewrapPlan {
  const { layout } = header;
  const infos: Buffer[] = [];
  if (keepRecipients) {
    infos.push(...layout.recipientInfoRaws);
    const present = header.recipients.map((r) => r.id);
    for (const t of targets) if (!present.some((p) => sameRecipient(p, t))) infos.push(recipientInfo(t, key));
  } else {
    for (const t of targets) infos.push(recipientInfo(t, key));
  }
  if (infos.length > MAX_RECIPIENTS) throw tooManyRecipients();
  // DER orders the members of a SET OF by their encodings.
  infos.sort(Buffer.compare);
  const set = der.set(...infos);

  let delta = set.length - (layout.recipientInfosEnd - layout.recipientInfosStart);
  const headers: Buffer[] = [];
  for (let i = layout.outer.length - 1; i >= 0; i--) {
    const o = layout.outer[i]!;
    const old = input.subarray(o.start, o.start + o.headerLength);
    if (o.end === undefined) {
      headers[i] = old;
      continue;
    }
    const fresh = definiteHeader(old[0]!, o.end - o.start - o.headerLength + delta);
    delta += fresh.length - o.headerLength;
    headers[i] = fresh;
  }
  const parts: Buffer[] = [];
  layout.outer.forEach((o, i) => {
    const next = layout.outer[i + 1]?.start ?? layout.recipientInfosStart;
    parts.push(headers[i]!, input.subarray(o.start + o.headerLength, next));
  });
  parts.push(set);
  return { header: Buffer.concat(parts), copyFrom: layout.recipientInfosEnd, recipients: infos.length };
}

/**
 * Plans a rewrap from the first bytes of a recording and its session key. Throws the header
 * parser's `NeedMore` (with `need`, a lower bound of the bytes needed) when `input` ends before
 * the encrypted content starts, `NOT_CMS`/`TOO_MANY_RECIPIENTS` when it is no recording.
 */
export function planRewrap(
  input: Buffer,
  key: Buffer,
  options: Pick<RewrapOptions, 'to' | 'keepRecipients'>,
): RewrapPlan {
  const header = parseRecordingHeader(input, { contentTypeSeen: false });
  return rewriteHeader(header, input, key, rewrapTargets(options.to), options.keepRecipients === true);
}

/**
 * A decryptor that checks a recording's tag with a known session key: write the whole original
 * recording into it (its plaintext is discarded); `completed` resolves once the tag verified.
 */
export function createTagVerifier(key: Buffer): CmsDecryptStream {
  const copy = Buffer.from(key);
  const verifier = createDecryptStream({ unwrap: async () => Buffer.from(copy) });
  verifier.on('close', () => copy.fill(0));
  // Failures surface through `completed`.
  verifier.on('error', () => undefined);
  verifier.resume();
  return verifier;
}

/**
 * A Transform: a recording in, the same recording for the targets out. It ends only once the
 * tag verified; on any failure it errors (and `completed` rejects) and what it emitted must be
 * discarded.
 */
export class CmsRewrapStream extends Transform {
  /** Settles when the stream succeeded or failed; never leaves an unhandled rejection. */
  readonly completed: Promise<RewrapResult>;
  private resolveCompleted!: (r: RewrapResult) => void;
  private rejectCompleted!: (e: Error) => void;

  private readonly targets: Recipient[];
  private readonly keep: boolean;
  /** The decryptor the input also goes through: it unwraps the key and checks the tag. */
  private readonly verifier: CmsDecryptStream;
  private key: Buffer | undefined;
  private queued: Buffer[] = [];
  private planned: RewrapPlan | undefined;
  private bytesIn = 0;
  private bytesOut = 0;

  constructor(unwrapper: SessionKeyUnwrapper, options: RewrapOptions) {
    super({ readableHighWaterMark: READ_CHUNK_SIZE, writableHighWaterMark: READ_CHUNK_SIZE });
    this.targets = rewrapTargets(options.to);
    this.keep = options.keepRecipients === true;
    this.completed = new Promise<RewrapResult>((resolve, reject) => {
      this.resolveCompleted = resolve;
      this.rejectCompleted = reject;
    });
    this.completed.catch(() => undefined);
    const capturing: SessionKeyUnwrapper = {
      unwrap: async (recipient, wrapped) => {
        const key = await unwrapper.unwrap(recipient, wrapped);
        this.key?.fill(0);
        this.key = Buffer.from(key);
        return key;
      },
    };
    this.verifier = createDecryptStream(capturing, {
      ...(options.certificates ? { certificates: options.certificates } : {}),
      ...(options.maxHeaderBytes ? { maxHeaderBytes: options.maxHeaderBytes } : {}),
    });
    this.verifier.on('error', () => undefined);
    this.verifier.resume();
  }

  /** Unwrap attempts made so far (each a private-key operation of the unwrapper). */
  get unwrapAttempts(): number {
    return this.verifier.unwrapAttempts;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytesIn += chunk.length;
    if (!this.planned) this.queued.push(chunk);
    this.verifier.write(chunk, (error) => {
      if (error) {
        callback(this.fail(error));
        return;
      }
      try {
        if (this.planned) this.pushOut(chunk);
        else if (this.key) this.plan();
      } catch (e) {
        callback(this.fail(e));
        return;
      }
      callback();
    });
  }

  override _flush(callback: TransformCallback): void {
    this.verifier.end();
    this.verifier.completed.then(
      (result) => {
        this.resolveCompleted({
          recipient: result.recipient,
          unwrapAttempts: result.unwrapAttempts,
          recipients: this.planned!.recipients,
          bytesIn: this.bytesIn,
          bytesOut: this.bytesOut,
        });
        callback();
      },
      (error: unknown) => callback(this.fail(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.key?.fill(0);
    this.key = undefined;
    if (!this.verifier.destroyed) this.verifier.destroy();
    this.rejectCompleted(error ?? new Error('The rewrap stream was closed before it completed.'));
    callback(error);
  }

  /** The verifier's error when it has one (it names what is wrong with the recording). */
  private fail(error: unknown): Error {
    const e = error instanceof Error ? error : new Error(String(error));
    this.rejectCompleted(e);
    return e;
  }

  private pushOut(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.bytesOut += chunk.length;
    this.push(chunk);
  }

  /** The key is in: write the new header and what arrived after the recipients. */
  private plan(): void {
    const input = Buffer.concat(this.queued);
    this.queued = [];
    const header = parseRecordingHeader(input, { contentTypeSeen: false });
    this.planned = rewriteHeader(header, input, this.key!, this.targets, this.keep);
    this.key!.fill(0);
    this.pushOut(this.planned.header);
    this.pushOut(input.subarray(this.planned.copyFrom));
  }
}

/** Creates a rewrap stream; write a recording into it, read the rewrapped recording from it. */
export function createRewrapStream(unwrapper: SessionKeyUnwrapper, options: RewrapOptions): CmsRewrapStream {
  return new CmsRewrapStream(unwrapper, options);
}

/**
 * Rewraps the file at `inPath` into `outPath`. The result goes to a temporary file in the same
 * directory, renamed to `outPath` only after the tag verified and deleted otherwise.
 */
export async function rewrapFile(
  inPath: string,
  outPath: string,
  unwrapper: SessionKeyUnwrapper,
  options: RewrapOptions,
): Promise<RewrapResult> {
  return writeAtomically(outPath, async (out) => {
    const rewrap = createRewrapStream(unwrapper, options);
    await pipeline(createReadStream(inPath, { highWaterMark: READ_CHUNK_SIZE }), rewrap, out);
    return rewrap.completed;
  });
}
