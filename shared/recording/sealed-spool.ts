/**
 * Where a decrypted recording waits until its GCM tag has verified (DESIGN rule 13): plaintext
 * can only be released once the whole recording is in, so it has to be kept somewhere first.
 *
 * Up to `memoryBytes` stay in memory. Past that everything goes to a temporary file, sealed
 * under a one-time AES-256-GCM key that exists only in this object, so no plaintext is ever at
 * rest. The file is unlinked as soon as it is opened (on POSIX it then has no name, and nothing
 * survives the process, however it ends); where an open file cannot be unlinked (Windows) it is
 * removed when the spool is released. Each chunk of the file is sealed on its own (the nonce is
 * its index), so reading it back verifies every chunk before its bytes are released; how many
 * chunks there are and how long the last one is stay in memory, so a file cut short, extended or
 * reordered fails too.
 */
import { type CipherGCM, createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
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

function nonce(index: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(index, 6, 6);
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
  /** Where the next sealed byte goes. */
  private position = 0;
  /** The chunk being sealed, and its plaintext bytes so far. */
  private cipher: CipherGCM | undefined;
  private inChunk = 0;
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
    if (!this.file && this.total <= this.memoryBytes) {
      this.pending.push(chunk);
      callback();
      return;
    }
    this.spill(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.file || this.released || this.dropped) {
      callback();
      return;
    }
    this.closeChunk().then(() => callback(), callback);
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

  /** Seals `chunk` to the file, first moving what memory held there. */
  private async spill(chunk: Buffer): Promise<void> {
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
      const held = this.pending;
      this.pending = [];
      for (const b of held) {
        await this.seal(b);
        b.fill(0);
      }
    }
    await this.seal(chunk);
  }

  /** Encrypts `data` into the current chunk(s), closing each chunk as it fills. */
  private async seal(data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      const file = this.file;
      if (!file || !this.key || this.released) return;
      this.cipher ??= createCipheriv('aes-256-gcm', this.key, nonce(this.chunks), {
        authTagLength: TAG_LENGTH,
      });
      const take = Math.min(this.chunkBytes - this.inChunk, data.length - offset);
      const sealed = this.cipher.update(data.subarray(offset, offset + take));
      offset += take;
      this.inChunk += take;
      await this.append(sealed);
      if (this.inChunk === this.chunkBytes) await this.closeChunk();
    }
  }

  /** Ends the chunk being sealed: its tag follows its ciphertext in the file. */
  private async closeChunk(): Promise<void> {
    const cipher = this.cipher;
    if (!cipher) return;
    this.cipher = undefined;
    const rest = cipher.final();
    await this.append(rest.length > 0 ? Buffer.concat([rest, cipher.getAuthTag()]) : cipher.getAuthTag());
    this.chunks++;
    this.lastChunkBytes = this.inChunk;
    this.inChunk = 0;
  }

  private async append(bytes: Buffer): Promise<void> {
    const file = this.file;
    if (!file || this.released) return;
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await file.handle.write(bytes, written, bytes.length - written, this.position);
      written += bytesWritten;
      this.position += bytesWritten;
    }
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
    // Ciphertext only: no need to zero it afterwards.
    const sealed = Buffer.allocUnsafe(length);
    const { bytesRead } = await file.handle.read(sealed, 0, length, index * (this.chunkBytes + TAG_LENGTH));
    if (bytesRead !== length) throw new Error('The sealed spool file was cut short.');
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce(index), {
      authTagLength: TAG_LENGTH,
    });
    decipher.setAuthTag(sealed.subarray(length - TAG_LENGTH));
    const plaintext = decipher.update(sealed.subarray(0, length - TAG_LENGTH));
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
    this.cipher = undefined;
    const file = this.file;
    this.file = undefined;
    if (!file) return;
    await file.handle.close().catch(() => undefined);
    if (!file.unlinked) await fs.rm(file.path, { force: true });
  }
}
