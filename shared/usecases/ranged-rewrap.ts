/**
 * Rewrap and verify of one stored recording read by byte ranges: the per-object step the clouds'
 * batch engines share (the AWS S3 Batch Operations function, the Azure queue-fed blob function).
 * The engine reads ranges and writes the result its own way (a multipart upload whose later parts
 * are server-side copies, staged blocks); what a recording is, how its session key is found and
 * how its tag is checked is decided here, once.
 */
import type { CertificateRecord } from '../domain/types';
import { ValidationError } from '../errors';
import { type CmsDecryptStream, createDecryptStream } from '../recording';
import { NeedMore } from '../recording/header/auth-enveloped-data';
import type { SessionKeyUnwrapper } from '../recording/ports';
import { planRewrap, type RewrapPlan } from '../recording/rewrap';
import type { CoreDeps } from './deps';
import { unwrapperFor } from './recordings';

/** How much of a recording is read first for its header; more is read while the plan asks. */
const HEADER_READ = 64 * 1024;

/** A stored recording read by byte ranges (one object version, one blob version). */
export interface RangedSource {
  readonly size: number;
  /** Bytes [start, end); throws (retryably) when the object changed since it was pinned. */
  read(start: number, end: number): Promise<Buffer>;
}

/**
 * The tag check of one recording: the decryptor matches its recipients against the tenant's
 * certificates and unwraps through custody; bytes fed to `verifier` are checked and their
 * plaintext dropped as it is produced (nothing of it is kept).
 */
export interface RecordingCheck {
  verifier: CmsDecryptStream;
  /** The session key once unwrapped, when it was asked to be kept (for a rewrap). */
  sessionKey(): Buffer | undefined;
  /** Wipes the kept key and stops the verifier. */
  close(): void;
}

/**
 * Opens the check of a recording of the tenant whose certificates are `records`. With
 * `keepSessionKey` the unwrapped key is kept for planning a rewrap. Throws NO_MATCHING_KEY when
 * the tenant has no certificates.
 */
export function openRecordingCheck(
  core: CoreDeps,
  records: CertificateRecord[],
  keepSessionKey: boolean,
): RecordingCheck {
  if (records.length === 0) {
    throw new ValidationError('NO_MATCHING_KEY', 'This tenant has no certificates, so no recording opens.');
  }
  let sessionKey: Buffer | undefined;
  const custody = unwrapperFor(core, records);
  const capturing: SessionKeyUnwrapper = {
    unwrap: async (recipient, wrapped) => {
      const key = await custody.unwrap(recipient, wrapped);
      if (keepSessionKey) sessionKey = Buffer.from(key);
      return key;
    },
  };
  const verifier = createDecryptStream(capturing, { certificates: records.map((r) => r.certificatePem) });
  verifier.on('error', () => undefined);
  verifier.resume();
  return {
    verifier,
    sessionKey: () => sessionKey,
    close: () => {
      sessionKey?.fill(0);
      if (!verifier.destroyed) verifier.destroy();
    },
  };
}

/** Writes a chunk and waits until the verifier took it (its backpressure and its failures). */
function feed(verifier: CmsDecryptStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    verifier.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Streams [from, size) of the recording into the verifier in `step`-byte ranges, ends it, and
 * resolves once the tag verified (INTEGRITY_CHECK_FAILED otherwise). `stopped` ends the reading
 * early when the engine's other side failed.
 */
export async function verifyFrom(
  source: RangedSource,
  verifier: CmsDecryptStream,
  from: number,
  step: number,
  stopped: () => boolean = () => false,
): Promise<void> {
  for (let pos = from; pos < source.size && !stopped(); pos += step) {
    await feed(verifier, await source.read(pos, Math.min(source.size, pos + step)));
  }
  verifier.end();
  await verifier.completed;
}

/** The start of a rewrapped recording, ready to write. */
export interface PlannedRewrap {
  plan: RewrapPlan;
  /** The new header and the original's bytes from `plan.copyFrom` up to `boundary`. */
  firstPart: Buffer;
  /** Where the rest of the original (copied unchanged, server-side) starts; read and fed so far. */
  boundary: number;
}

/**
 * Reads the recording's header by growing ranges (feeding them to the check, which unwraps the
 * session key), plans the rewrap for `to`, and reads on to `firstPartBytes` past the old
 * recipients, so the first part can be written by the engine and the rest copied. Throws NOT_CMS
 * for a recording that ends inside its header, and what the plan or the check refuse.
 */
export async function planRangedRewrap(
  source: RangedSource,
  check: RecordingCheck,
  options: { to: string[]; keepRecipients: boolean; readBytes: number; firstPartBytes: number },
): Promise<PlannedRewrap> {
  const read: Buffer[] = [];
  let pos = 0;
  const more = async (upTo: number) => {
    const end = Math.min(source.size, Math.max(upTo, pos + 1));
    if (end <= pos) {
      // The recording ended inside its header: the verifier names what is wrong, else NOT_CMS.
      check.verifier.end();
      await check.verifier.completed;
      throw new ValidationError('NOT_CMS', 'The recording ends inside its CMS header.');
    }
    const chunk = await source.read(pos, end);
    read.push(chunk);
    pos = end;
    await feed(check.verifier, chunk);
  };
  let want = Math.min(HEADER_READ, options.readBytes);
  let plan: RewrapPlan | undefined;
  while (!plan) {
    await more(want);
    const key = check.sessionKey();
    if (!key) {
      want = pos * 2;
      continue;
    }
    try {
      plan = planRewrap(Buffer.concat(read), key, { to: options.to, keepRecipients: options.keepRecipients });
    } catch (error) {
      if (!(error instanceof NeedMore)) throw error;
      want = Math.max(error.need, pos * 2);
    }
  }
  check.sessionKey()?.fill(0);
  const boundary = Math.max(pos, Math.min(source.size, plan.copyFrom + options.firstPartBytes));
  if (boundary > pos) await more(boundary);
  const firstPart = Buffer.concat([plan.header, Buffer.concat(read).subarray(plan.copyFrom, boundary)]);
  return { plan, firstPart, boundary };
}
