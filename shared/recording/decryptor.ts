/**
 * Streaming CMS AuthEnvelopedData decryptor. It reads the header (at most 1 MiB; parsed by
 * `header/`, one file per structure), has `session-key.ts` unwrap the content-encryption key of
 * a recipient that matches the caller's certificates, decrypts the content as it arrives and
 * checks the GCM tag at the very end. This file is the stream's state machine only.
 *
 * GCM can only say whether the plaintext was genuine once the last byte is in. So the stream
 * emits plaintext as it goes, but ends ('end'/'finish', `completed` resolving) only after the tag
 * verified and the structure closed exactly at the end of the input; otherwise it fails with
 * `INTEGRITY_CHECK_FAILED` and whatever it emitted must be thrown away. `decryptFile` does that
 * for you: it writes to a temporary file and renames it only on success.
 */
import { createDecipheriv, type DecipherGCM } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../errors';
import { DerError, TAG } from '../pki/der';
import { BerError, type BerHeader, berElementEnd, MAX_HEADER_LENGTH, readBerHeader } from './ber';
import { type ChunkOptions, READ_CHUNK_SIZE, readChunks, writeFileAtomically } from './files';
import {
  type Frame,
  MAX_SKIP_DEPTH,
  NeedMore,
  parseRecordingHeader,
  type RecordingHeader,
} from './header/auth-enveloped-data';
import { damaged, notCms } from './header/errors';
import type { MatchedRecipient, RecipientId, SessionKeyUnwrapper } from './ports';
import { type CertificateInput, toRecipient } from './recipients';
import { unwrapSessionKey } from './session-key';

/** Options of the decryptor. */
export interface DecryptOptions {
  /**
   * Certificates whose keys the unwrapper holds. When given, only recipients with the same issuer
   * and serial are tried; when absent, every RSAES-OAEP recipient is offered to the unwrapper in
   * turn until one unwraps.
   */
  certificates?: readonly CertificateInput[];
  /** Most bytes accepted before the encrypted content starts (default 1 MiB). */
  maxHeaderBytes?: number;
}

/** What a successful decryption tells the caller (for the audit trail). */
export interface DecryptResult {
  /**
   * The recipient whose wrapped key opened the message, with the index of the certificate of
   * `DecryptOptions.certificates` it matched (when they were given).
   */
  recipient: MatchedRecipient;
  /** Dotted OID of the encrypted content type (normally id-data). */
  contentType: string;
  /** Plaintext bytes written. */
  bytesOut: number;
  /** Unwrap attempts (private-key operations) it took, at most `MAX_KEY_OPERATIONS`. */
  unwrapAttempts: number;
}

export { MAX_RECIPIENTS } from './header/errors';
export { MAX_KEY_OPERATIONS } from './session-key';

const DEFAULT_MAX_HEADER = 1024 * 1024;
/** Room after the content for the mac, unauthenticated attributes and end-of-contents octets. */
const MAX_TRAILER = 64 * 1024;
/** Nesting of constructed OCTET STRINGs inside the content. */
const MAX_CONTENT_DEPTH = 8;
const EMPTY = Buffer.alloc(0);

/**
 * A Transform: CMS in, plaintext out. `completed` resolves once the tag verified (the stream
 * then ends) and rejects with the error that destroyed the stream otherwise.
 */
export class CmsDecryptStream extends Transform {
  /** Settles when the stream succeeded or failed; never leaves an unhandled rejection. */
  readonly completed: Promise<DecryptResult>;
  private resolveCompleted!: (r: DecryptResult) => void;
  private rejectCompleted!: (e: Error) => void;
  private settled = false;

  private readonly unwrapper: SessionKeyUnwrapper;
  private readonly ours: RecipientId[] | undefined;
  private readonly maxHeaderBytes: number;

  private state: 'header' | 'unwrapping' | 'content' | 'trailer' = 'header';
  private headerChunks: Buffer[] = [];
  private headerBytes = 0;
  private need = 1;
  private readonly marks = { contentTypeSeen: false };

  private parsed: RecordingHeader | undefined;
  private recipient: MatchedRecipient | undefined;
  private decipher: DecipherGCM | undefined;
  /** Absolute input offset of the next byte the content parser looks at. */
  private abs = 0;
  private frames: Frame[] = [];
  private contentBase = 0;
  private remaining = 0;
  private pendingHeader: Buffer = EMPTY;
  private trailerChunks: Buffer[] = [];
  private trailerBytes = 0;
  private trailerStart = 0;
  private bytesOut = 0;
  private readonly attempts = { count: 0 };
  /** Where plaintext goes: the readable side, or the file path's batch (see `decryptChunk`). */
  private deliver: (plaintext: Buffer) => void = (plaintext) => {
    this.push(plaintext);
  };

  constructor(unwrapper: SessionKeyUnwrapper, options: DecryptOptions = {}) {
    super({ readableHighWaterMark: READ_CHUNK_SIZE, writableHighWaterMark: READ_CHUNK_SIZE });
    this.unwrapper = unwrapper;
    this.ours = options.certificates?.map((c) => {
      const r = toRecipient(c);
      return { issuerDer: r.issuerDer, serialHex: r.serialHex };
    });
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
    this.completed = new Promise<DecryptResult>((resolve, reject) => {
      this.resolveCompleted = resolve;
      this.rejectCompleted = reject;
    });
    this.completed.catch(() => undefined);
  }

  /** Unwrap attempts made so far (each a private-key operation of the unwrapper). */
  get unwrapAttempts(): number {
    return this.attempts.count;
  }

  /**
   * Decrypts one chunk without the stream machinery (the file path, which writes the result
   * itself): the plaintext it yields, in order. `chunk` is not referenced once this settles. Do
   * not mix with writing to the stream.
   * @internal
   */
  decryptChunk(chunk: Buffer): Promise<Buffer[]> {
    return this.batch((callback) => this.consume(chunk, callback));
  }

  /**
   * Ends the input of {@link decryptChunk}: checks the structure's end and the tag, and yields the
   * last plaintext (if any). `completed` settles.
   * @internal
   */
  endInput(): Promise<Buffer[]> {
    return this.batch((callback) => this._flush(callback));
  }

  private batch(step: (callback: TransformCallback) => void): Promise<Buffer[]> {
    const out: Buffer[] = [];
    this.deliver = (plaintext) => out.push(plaintext);
    return new Promise((resolve, reject) => {
      step((error) => {
        if (error) reject(error);
        else resolve(out);
      });
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk, callback);
  }

  private consume(chunk: Buffer, callback: TransformCallback): void {
    if (this.state === 'header') {
      this.onHeaderBytes(chunk, callback);
      return;
    }
    let failure: Error | undefined;
    try {
      if (this.state === 'content') this.onContent(chunk);
      else if (this.state === 'trailer') this.onTrailer(chunk);
      else throw new Error('write while unwrapping the session key');
    } catch (error) {
      failure = this.fail(error);
    }
    callback(failure);
  }

  override _flush(callback: TransformCallback): void {
    try {
      switch (this.state) {
        case 'header':
          this.headerAtEnd();
          break;
        case 'content':
          throw damaged(
            `the input ended at byte ${this.abs + this.pendingHeader.length}, inside the encrypted content`,
          );
        case 'trailer':
          this.finish();
          break;
        default:
          throw damaged('the input ended while the session key was being unwrapped');
      }
      this.settled = true;
      this.resolveCompleted({
        recipient: this.recipient!,
        contentType: this.parsed!.contentType,
        bytesOut: this.bytesOut,
        unwrapAttempts: this.attempts.count,
      });
      callback();
    } catch (error) {
      callback(this.fail(error));
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.decipher = undefined;
    if (!this.settled) {
      this.settled = true;
      this.rejectCompleted(error ?? new Error('The decryption stream was closed before it completed.'));
    }
    callback(error);
  }

  private fail(error: unknown): Error {
    const e =
      error instanceof AppError
        ? error
        : error instanceof BerError || error instanceof DerError
          ? this.state === 'header'
            ? notCms(`The CMS structure is malformed (${error.message}).`, error)
            : damaged(`the CMS structure is malformed after the header (${error.message})`, error)
          : error instanceof Error
            ? error
            : new Error(String(error));
    if (!this.settled) {
      this.settled = true;
      this.rejectCompleted(e);
    }
    return e;
  }

  // -- header ----------------------------------------------------------------------------------

  /** Collects the header, parses it once enough is in, then unwraps the key (asynchronously). */
  private onHeaderBytes(chunk: Buffer, callback: TransformCallback): void {
    this.headerChunks.push(chunk);
    this.headerBytes += chunk.length;
    if (this.headerBytes < this.need) {
      this.headerChunks[this.headerChunks.length - 1] = Buffer.from(chunk);
      callback();
      return;
    }
    const buf = this.headerChunks.length === 1 ? this.headerChunks[0]! : Buffer.concat(this.headerChunks);
    this.headerChunks = [buf];
    // What is kept for the next chunk is copied: the file path reuses its read buffers.
    const keep = (): void => {
      if (buf === chunk) this.headerChunks = [Buffer.from(chunk)];
    };
    let parsed: RecordingHeader;
    try {
      parsed = parseRecordingHeader(buf, this.marks);
    } catch (error) {
      if (!(error instanceof NeedMore)) {
        callback(this.fail(error));
        return;
      }
      this.need = Math.max(error.need, buf.length + 1);
      if (this.need > this.maxHeaderBytes) {
        callback(
          this.fail(
            notCms(`The CMS header is larger than ${this.maxHeaderBytes} bytes; that is not a recording.`),
          ),
        );
        return;
      }
      keep();
      callback();
      return;
    }
    this.headerChunks = [];
    this.state = 'unwrapping';
    this.unwrapKey(parsed).then(
      () => {
        if (this.destroyed) return;
        let failure: Error | undefined;
        try {
          this.state = 'content';
          const rest = buf.subarray(parsed.contentStart);
          if (rest.length > 0) this.onContent(rest);
        } catch (error) {
          failure = this.fail(error);
        }
        callback(failure);
      },
      (error: unknown) => callback(this.fail(error)),
    );
  }

  private headerAtEnd(): void {
    if (this.headerBytes === 0) throw notCms('The input is empty; a CMS recording was expected.');
    const buf = Buffer.concat(this.headerChunks);
    try {
      parseRecordingHeader(buf, this.marks);
    } catch (error) {
      if (!(error instanceof NeedMore)) throw error;
    }
    if (!this.marks.contentTypeSeen) throw notCms('The input is not CMS: it ends before a content type.');
    throw damaged(`the input ended at byte ${buf.length}, inside the CMS header`);
  }

  private async unwrapKey(parsed: RecordingHeader): Promise<void> {
    const { key, recipient } = await unwrapSessionKey(parsed, this.unwrapper, this.ours, this.attempts);
    this.decipher = createDecipheriv(parsed.cipher.cipher, key, parsed.iv, {
      authTagLength: parsed.tagLength,
    });
    key.fill(0);
    this.recipient = recipient;
    this.parsed = parsed;
    this.abs = parsed.contentStart;
    this.frames = parsed.frames;
    this.contentBase = parsed.frames.length;
    if (parsed.content.primitive) this.remaining = parsed.content.length;
    else this.frames.push(parsed.content.frame);
  }

  // -- content ---------------------------------------------------------------------------------

  private checkFits(end: number): void {
    for (const f of this.frames) {
      if (f.end !== undefined && end > f.end)
        throw damaged(`a length at byte ${this.abs} runs past the end of ${f.name}`);
    }
  }

  private onContent(chunk: Buffer): void {
    const segments: Buffer[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        segments.push(i === 0 && take === n ? chunk : chunk.subarray(i, i + take));
        i += take;
        this.remaining -= take;
        this.abs += take;
        continue;
      }
      if (this.frames.length === this.contentBase) {
        this.state = 'trailer';
        this.trailerStart = this.abs;
        this.onTrailer(chunk.subarray(i));
        break;
      }
      const top = this.frames[this.frames.length - 1]!;
      if (top.end !== undefined && this.abs === top.end) {
        this.frames.pop();
        continue;
      }
      // A piece header, which may straddle two input chunks.
      const probe =
        this.pendingHeader.length === 0
          ? chunk.subarray(i, i + MAX_HEADER_LENGTH)
          : Buffer.concat([this.pendingHeader, chunk.subarray(i, i + MAX_HEADER_LENGTH)]);
      const h = readBerHeader(probe, 0);
      if (!h) {
        this.pendingHeader = Buffer.from(probe);
        i = n;
        break;
      }
      i += h.headerLength - this.pendingHeader.length;
      this.pendingHeader = EMPTY;
      this.abs += h.headerLength;
      if (h.tag === 0 && h.length === 0) {
        if (top.end !== undefined) throw damaged(`an unexpected end-of-contents at byte ${this.abs - 2}`);
        this.frames.pop();
        continue;
      }
      if (h.length !== undefined) this.checkFits(this.abs + h.length);
      if (h.tag === TAG.OCTET_STRING) {
        this.remaining = h.length!;
      } else if (h.tag === 0x24) {
        if (this.frames.length - this.contentBase >= MAX_CONTENT_DEPTH)
          throw damaged('the content is nested too deeply');
        this.frames.push({
          end: h.length === undefined ? undefined : this.abs + h.length,
          name: 'an OCTET STRING',
        });
      } else {
        throw damaged(
          `unexpected tag 0x${h.tag.toString(16)} inside the encrypted content at byte ${this.abs - h.headerLength}`,
        );
      }
    }
    if (segments.length > 0) {
      const ciphertext = segments.length === 1 ? segments[0]! : Buffer.concat(segments);
      const plaintext = this.decipher!.update(ciphertext);
      this.bytesOut += plaintext.length;
      if (plaintext.length > 0) this.deliver(plaintext);
    }
  }

  // -- trailer ---------------------------------------------------------------------------------

  private onTrailer(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.trailerBytes += chunk.length;
    if (this.trailerBytes > MAX_TRAILER)
      throw damaged('there is unexpected data after the encrypted content');
    this.trailerChunks.push(Buffer.from(chunk));
  }

  /** Closes the structure, checks nothing follows it, and verifies the tag. */
  private finish(): void {
    const t = Buffer.concat(this.trailerChunks);
    const parsed = this.parsed!;
    let p = 0;
    const at = (): number => this.trailerStart + p;
    const close = (frame: Frame): void => {
      if (frame.end === undefined) {
        if (p + 2 > t.length)
          throw damaged(`the input ended at byte ${at()}, before the end of ${frame.name}`);
        if (t[p] !== 0 || t[p + 1] !== 0) throw damaged(`${frame.name} is not closed at byte ${at()}`);
        p += 2;
      } else if (at() !== frame.end) {
        throw damaged(`${frame.name} does not end where its length says (byte ${frame.end})`);
      }
    };
    const next = (what: string): BerHeader => {
      const h = readBerHeader(t, p);
      if (!h) throw damaged(`the input ended at byte ${at()}, before the ${what}`);
      return h;
    };
    const frames = [...this.frames];
    close(frames.pop()!); // EncryptedContentInfo
    let h = next('authentication tag');
    if (h.tag === 0xa1) {
      throw notCms('Authenticated attributes in AuthEnvelopedData are not supported.');
    }
    if (h.tag !== TAG.OCTET_STRING || h.length !== parsed.tagLength) {
      throw damaged(`no ${parsed.tagLength}-byte authentication tag follows the content (byte ${at()})`);
    }
    if (p + h.headerLength + h.length > t.length)
      throw damaged(`the input ended at byte ${this.trailerStart + t.length}, inside the authentication tag`);
    const mac = t.subarray(p + h.headerLength, p + h.headerLength + h.length);
    p += h.headerLength + h.length;
    if (t[p] === 0xa2) {
      h = next('unauthenticated attributes');
      const end = berElementEnd(t, p, MAX_SKIP_DEPTH);
      if (end === undefined) throw damaged('the unauthenticated attributes are cut short');
      p = end;
    }
    while (frames.length > 0) close(frames.pop()!);
    if (p !== t.length)
      throw damaged(`there are ${t.length - p} unexpected bytes after the end of the message`);
    const decipher = this.decipher!;
    decipher.setAuthTag(mac);
    let rest: Buffer;
    try {
      rest = decipher.final();
    } catch (cause) {
      throw damaged('the AES-GCM authentication tag does not match the content', cause);
    }
    if (rest.length > 0) {
      this.bytesOut += rest.length;
      this.deliver(rest);
    }
  }
}

/** Creates a streaming decryptor; write CMS into it, read plaintext from it. */
export function createDecryptStream(
  unwrapper: SessionKeyUnwrapper,
  options: DecryptOptions = {},
): CmsDecryptStream {
  return new CmsDecryptStream(unwrapper, options);
}

/**
 * Decrypts `input` as it streams. Read `plaintext` to the end; it errors (and `completed`
 * rejects) when the message is not CMS, not for us, or fails its integrity check, in which case
 * everything read from it must be discarded. Only when `completed` resolves is the output genuine.
 */
export function decryptStream(
  input: Readable,
  unwrapper: SessionKeyUnwrapper,
  options: DecryptOptions = {},
): { plaintext: Readable; completed: Promise<DecryptResult> } {
  const decryptor = createDecryptStream(unwrapper, options);
  input.on('error', (error) => decryptor.destroy(error));
  // A failed decryption stops reading: release the input instead of leaving it paused.
  decryptor.on('close', () => {
    if (!input.readableEnded) input.destroy();
  });
  input.pipe(decryptor);
  return { plaintext: decryptor, completed: decryptor.completed };
}

/** Options of {@link decryptFile}. */
export interface DecryptFileOptions extends DecryptOptions, ChunkOptions {
  /** Called after each chunk with the CMS bytes read so far (a progress bar). */
  onProgress?: (bytesRead: number) => void;
}

/**
 * Decrypts the file at `inPath` into `outPath`. The plaintext goes to a temporary file in the
 * same directory, which is renamed to `outPath` only after the tag verified and deleted otherwise,
 * so `outPath` never holds unauthenticated data.
 *
 * No streams: reads run ahead in the fs threadpool into reused buffers while the main thread
 * decrypts, and each chunk's plaintext is written while the next is decrypted. Memory stays at a
 * few chunks whatever the file's size.
 */
export async function decryptFile(
  inPath: string,
  outPath: string,
  unwrapper: SessionKeyUnwrapper,
  options: DecryptFileOptions = {},
): Promise<DecryptResult> {
  const { chunkSize, onProgress, ...decryptOptions } = options;
  const decryptor = createDecryptStream(unwrapper, decryptOptions);
  const input = await fs.open(inPath, 'r');
  try {
    return await writeFileAtomically(outPath, async (out) => {
      try {
        let bytesRead = 0;
        await readChunks(
          input,
          async (chunk) => {
            const plaintext = await decryptor.decryptChunk(chunk);
            if (plaintext.length > 0) await out.write(plaintext);
            bytesRead += chunk.length;
            onProgress?.(bytesRead);
          },
          chunkSize,
        );
        const rest = await decryptor.endInput();
        if (rest.length > 0) await out.write(rest);
        return await decryptor.completed;
      } finally {
        decryptor.destroy(); // settles `completed` on a read or write failure, drops the key
      }
    });
  } finally {
    await input.close();
  }
}
