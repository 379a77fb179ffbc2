/**
 * The worker thread of `reccert verify-recordings`: takes one recording path at a time from the
 * main thread, runs it end to end through the project's streaming decryptor (a recipient that
 * matches a key held, the session key unwrapped, the GCM tag checked over the whole content) and
 * throws the plaintext away as it streams, so memory stays the same whatever the size. The keys
 * arrive once, as KeyObjects in `workerData`, and are imported once per worker.
 */
import type { KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { AppError, ValidationError } from '../../shared/errors';
import { unwrapOaepSha256 } from '../../shared/pki/rsa-oaep';
import {
  createDecryptStream,
  type DecryptOptions,
  type MatchedRecipient,
  READ_CHUNK_SIZE,
  type SessionKeyUnwrapper,
} from '../../shared/recording';
import { type Recipient, sameRecipient, toRecipient } from '../../shared/recording/recipients';
import { fsReason } from '../io';

/** The keys a worker holds: pairs with their certificate (from a backup) and bare key files. */
export interface WorkerKeys {
  certified: Array<{ certificatePem: string; key: KeyObject }>;
  bare: KeyObject[];
}

/** main → worker: check this file. */
export interface VerifyJob {
  id: number;
  path: string;
}

/** worker → main. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; id: number; bytes: number }
  | { type: 'done'; id: number; code?: string; message?: string };

/** A code for a file that cannot be read (gone, no permission, an I/O error). */
export const READ_ERROR = 'READ_ERROR';

/** Bytes between two progress messages for one file: often enough for a smooth bar, cheap. */
const PROGRESS_STEP = 8 * READ_CHUNK_SIZE;

function recipientKey(id: { issuerDer: Buffer; serialHex: string }): string {
  return `${id.serialHex}/${id.issuerDer.toString('hex')}`;
}

/**
 * Every key held, as one unwrapper. Keys that come with their certificate open only that
 * certificate's recipient (one RSA operation). A bare key file does not say which recipient it
 * is, so bare keys are tried on a recipient in turn, and the one that opened it is remembered:
 * the next recording for the same certificate costs one RSA operation again.
 */
export class KeyRing implements SessionKeyUnwrapper {
  private readonly certified: Array<{ recipient: Recipient; key: KeyObject }>;
  private readonly bare: KeyObject[];
  private readonly learned = new Map<string, KeyObject>();
  /** What to hand the decryptor with this ring. */
  readonly options: DecryptOptions;

  constructor(keys: WorkerKeys) {
    this.certified = keys.certified.map((c) => ({ recipient: toRecipient(c.certificatePem), key: c.key }));
    this.bare = keys.bare;
    // With certificates for every key the decryptor picks the recipients itself; with bare keys
    // it must offer every recipient, since any of them may be one of ours.
    this.options =
      this.bare.length === 0 ? { certificates: this.certified.map((c) => c.recipient.certificate) } : {};
  }

  async unwrap(recipient: MatchedRecipient, wrappedKey: Buffer): Promise<Buffer> {
    const named =
      recipient.certificate !== undefined
        ? this.certified[recipient.certificate]?.key
        : (this.certified.find((c) => sameRecipient(c.recipient, recipient))?.key ??
          this.learned.get(recipientKey(recipient)));
    const candidates = named ? [named] : this.bare;
    for (const key of candidates) {
      try {
        const sessionKey = await unwrapOaepSha256(key, wrappedKey);
        if (!named) this.learned.set(recipientKey(recipient), key);
        return sessionKey;
      } catch {
        // Not this key: OAEP's padding check fails for any other.
      }
    }
    throw new ValidationError(
      'NO_MATCHING_KEY',
      `No key held opens the recipient with certificate serial ${recipient.serialHex}.`,
    );
  }
}

/** A short, single-line reason for the report. */
function outcomeOf(error: unknown): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  const errno = error as NodeJS.ErrnoException;
  if (typeof errno?.code === 'string' && typeof errno.syscall === 'string') {
    return { code: READ_ERROR, message: `The file cannot be read: ${fsReason(error)}.` };
  }
  return {
    code: 'INTERNAL_ERROR',
    message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
  };
}

/** Checks one recording; resolves with its outcome (never rejects). */
export async function verifyFile(
  ring: KeyRing,
  path: string,
  onProgress: (bytes: number) => void,
): Promise<{ code?: string; message?: string }> {
  let read = 0;
  let reported = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      read += chunk.length;
      if (read - reported >= PROGRESS_STEP) {
        reported = read;
        onProgress(read);
      }
      callback(null, chunk);
    },
  });
  const decryptor = createDecryptStream(ring, ring.options);
  // The plaintext is dropped chunk by chunk: never written, never held whole.
  const discard = new Writable({
    highWaterMark: READ_CHUNK_SIZE,
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  try {
    await pipeline(createReadStream(path, { highWaterMark: READ_CHUNK_SIZE }), meter, decryptor, discard);
    await decryptor.completed;
    return {};
  } catch (error) {
    return outcomeOf(error);
  }
}

function serve(port: MessagePort): void {
  const ring = new KeyRing(workerData as WorkerKeys);
  const post = (message: WorkerMessage): void => port.postMessage(message);
  port.on('message', (job: VerifyJob) => {
    void verifyFile(ring, job.path, (bytes) => post({ type: 'progress', id: job.id, bytes })).then(
      (outcome) => post({ type: 'done', id: job.id, ...outcome }),
    );
  });
  post({ type: 'ready' });
}

if (parentPort) serve(parentPort);
