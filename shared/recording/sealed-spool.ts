/**
 * Where a decrypted recording waits until its GCM tag has verified (DESIGN rule 13): plaintext
 * can only be released once the whole recording is in, so it has to be kept somewhere first.
 *
 * Up to `memoryBytes` stay in memory. Past that everything goes to a temporary file, sealed
 * under a one-time AES-256-GCM key that exists only in this object, so no plaintext is ever at
 * rest. The file is unlinked as soon as it is opened (on POSIX it then has no name, and nothing
 * survives the process, however it ends); where an open file cannot be unlinked (Windows) it is
 * removed when the spool is released. Each chunk of the file is sealed on its own (STREAM
 * construction: the nonce carries the chunk index and a last-chunk flag), so reading it back
 * verifies every chunk before its bytes are released, and a file cut short or reordered fails.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';

/** Options of a spool. */
export interface SealedSpoolOptions {
  /** Most bytes kept in memory before spilling to a sealed file (default 4 MiB). */
  memoryBytes?: number;
  /**
   * Most bytes kept at all. Past it the spool drops what it holds and only counts (`overflowed`),
   * so the writer can still be run to its end, e.g. to learn whether a recording is genuine.
   */
  maxBytes?: number;
  /** Folder of the sealed file (default `os.tmpdir()`: /tmp on Lambda, the Functions temp). */
  dir?: string;
  /** Plaintext bytes per sealed chunk (default 1 MiB). */
  chunkBytes?: number;
}

/** Bytes kept in memory before spilling: a few recordings' worth of headroom per request. */
export const DEFAULT_SPOOL_MEMORY_BYTES = 4 * 1024 * 1024;
const DEFAULT_CHUNK = 1024 * 1024;
const TAG_LENGTH = 16;

function nonce(index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(index, 3, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/**
 * A Writable that keeps what is written to it (in memory, then sealed on disk) until `reader()`
 * streams it back once, or `release()` throws it away. Always call one of the two: the reader
 * releases everything when it ends, fails or is destroyed.
 */
export class SealedSpool extends Writable {
  private readonly memoryBytes: number;
  private readonly maxBytes: number;
  private readonly dir: string;
  private readonly chunkBytes: number;

  private key: Buffer | undefined;
  private pending: Buffer[] = [];
  private file: { handle: fs.FileHandle; path: string; unlinked: boolean } | undefined;
  private chunks = 0;
  private lastChunkBytes = 0;
  private total = 0;
  private dropped = false;
  private released = false;
  private readerTaken = false;

  constructor(options: SealedSpoolOptions = {}) {
    super({ highWaterMark: options.chunkBytes ?? DEFAULT_CHUNK });
    this.memoryBytes = options.memoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.dir = options.dir ?? os.tmpdir();
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK;
  }

  /** Bytes written so far (including those dropped past `maxBytes`). */
  get bytes(): number {
    return this.total;
  }

  /** Whether more than `maxBytes` were written (and so nothing is kept). */
  get overflowed(): boolean {
    return this.dropped;
  }

  /** Whether the contents went to a sealed file (for tests and measurements). */
  get spilled(): boolean {
    return this.file !== undefined || this.chunks > 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.total += chunk.length;
    if (this.released || this.dropped) {
      callback();
      return;
    }
    if (this.total > this.maxBytes) {
      this.dropped = true;
      this.release().then(() => callback(), callback);
      return;
    }
    this.pending.push(chunk);
    if (!this.file && this.total <= this.memoryBytes) {
      callback();
      return;
    }
    this.spill(false).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.file || this.released || this.dropped) {
      callback();
      return;
    }
    this.spill(true).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Writables destroy themselves after 'finish' (autoDestroy): what was kept then waits for
    // its reader. Destroyed any other way before the reader was taken, nobody else releases it.
    if (this.readerTaken || (this.writableFinished && !error)) callback(error);
    else
      this.release().then(
        () => callback(error),
        () => callback(error),
      );
  }

  /** Seals full chunks to the file (all that is pending, the last one flagged, when `last`). */
  private async spill(last: boolean): Promise<void> {
    if (!this.file) {
      this.key = randomBytes(32);
      const file = path.join(this.dir, `reccert-spool-${randomBytes(12).toString('hex')}`);
      const handle = await fs.open(file, 'wx+', 0o600);
      this.file = { handle, path: file, unlinked: false };
      try {
        await fs.unlink(file);
        this.file.unlinked = true;
      } catch {
        // Windows keeps the name of an open file: removed on release instead.
      }
      if (this.released) {
        await this.release();
        return;
      }
    }
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    let offset = 0;
    // The last chunk is sealed only by `_final`, so a full chunk is held back until more follows.
    while (last ? offset < data.length : data.length - offset > this.chunkBytes) {
      const piece = data.subarray(offset, Math.min(data.length, offset + this.chunkBytes));
      offset += piece.length;
      const isLast = last && offset >= data.length;
      await this.sealChunk(piece, isLast);
    }
    if (offset === 0) {
      this.pending = [data];
      return;
    }
    if (offset < data.length) {
      this.pending = [Buffer.from(data.subarray(offset))];
    }
    data.fill(0);
  }

  private async sealChunk(piece: Buffer, last: boolean): Promise<void> {
    const file = this.file;
    if (!file || !this.key || this.released) return;
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.chunks, last), {
      authTagLength: TAG_LENGTH,
    });
    const sealed = Buffer.concat([cipher.update(piece), cipher.final(), cipher.getAuthTag()]);
    const position = this.chunks * (this.chunkBytes + TAG_LENGTH);
    await file.handle.write(sealed, 0, sealed.length, position);
    this.chunks++;
    this.lastChunkBytes = piece.length;
  }

  /**
   * The kept bytes, streamed back once (after 'finish'). A sealed chunk that fails its tag fails
   * the stream before any of its bytes are released. Ending, failing or destroying the reader
   * releases the spool (a runtime destroys it when its client goes away).
   */
  reader(): Readable {
    if (this.readerTaken) throw new Error('The spool has been read already.');
    if (!this.writableFinished) throw new Error('The spool is still being written.');
    if (this.dropped) throw new Error(`The spool overflowed its ${this.maxBytes} bytes.`);
    this.readerTaken = true;
    const memory = this.file ? [] : this.pending;
    this.pending = [];
    let index = 0;
    const chunkCount = this.chunks;
    const spool = this;
    const stream = new Readable({
      highWaterMark: this.chunkBytes,
      async read() {
        try {
          const next = memory.shift();
          if (next) {
            this.push(next);
            return;
          }
          if (index >= chunkCount) {
            await spool.release();
            this.push(null);
            return;
          }
          this.push(await spool.openChunk(index++, chunkCount));
        } catch (error) {
          this.destroy(error as Error);
        }
      },
      destroy(error, callback) {
        memory.length = 0;
        spool.release().then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    return stream;
  }

  private async openChunk(index: number, count: number): Promise<Buffer> {
    const file = this.file;
    if (!file || !this.key) throw new Error('The spool was released before it was read.');
    const last = index === count - 1;
    const length = (last ? this.lastChunkBytes : this.chunkBytes) + TAG_LENGTH;
    const sealed = Buffer.alloc(length);
    const { bytesRead } = await file.handle.read(sealed, 0, length, index * (this.chunkBytes + TAG_LENGTH));
    if (bytesRead !== length) throw new Error('The sealed spool file was cut short.');
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce(index, last), {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAuthTag(sealed.subarray(length - TAG_LENGTH));
    const plaintext = decipher.update(sealed.subarray(0, length - TAG_LENGTH));
    sealed.fill(0);
    try {
      decipher.final();
    } catch (cause) {
      plaintext.fill(0);
      throw new Error(`The sealed spool file was altered (chunk ${index}).`, { cause });
    }
    return plaintext;
  }

  /** Throws away everything kept: memory zeroed, key forgotten, file closed and removed. */
  async release(): Promise<void> {
    this.released = true;
    for (const b of this.pending) b.fill(0);
    this.pending = [];
    this.key?.fill(0);
    this.key = undefined;
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await file.handle.close().catch(() => undefined);
    if (!file.unlinked) await fs.rm(file.path, { force: true });
  }
}
