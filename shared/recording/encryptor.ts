/**
 * Streaming CMS AuthEnvelopedData encryptor (RFC 5083): AES-256-GCM content encryption with a
 * fresh key and nonce per message, one KeyTransRecipientInfo (RSAES-OAEP SHA-256) per recipient.
 * Output is DER when the content length is known up front, BER with indefinite lengths otherwise;
 * memory stays constant either way because only the header and the tag are built in memory.
 */
import { type CipherGCM, createCipheriv, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../errors';
import { der } from '../pki/der';
import { definiteHeader, END_OF_CONTENTS, indefiniteHeader, tlvSize } from './ber';
import {
  aes256GcmAlgorithm,
  ENCODED_OID,
  GCM_IV_LENGTH,
  GCM_TAG_LENGTH,
  RSAES_OAEP_SHA256_ALGORITHM,
} from './cms';
import {
  type ChunkOptions,
  type OrderedWriter,
  READ_CHUNK_SIZE,
  readChunks,
  writeAtomically,
  writeFileAtomically,
} from './files';
import { type CertificateInput, type Recipient, toRecipient, wrapSessionKey } from './recipients';

/** Options of the encryptor. */
export interface EncryptOptions {
  /**
   * The exact number of plaintext bytes that will be written. When given, the output is DER
   * (definite lengths) and a different byte count fails the stream; when absent the output is
   * BER with indefinite lengths, as `openssl cms -stream` writes it.
   */
  contentLength?: number;
  /**
   * Bytes per `cipher.update` (default {@link UPDATE_SIZE}); larger writes are cut into
   * pieces of this size. For benchmarks: the default is the measured best.
   */
  updateSize?: number;
}

/**
 * The encryptor's `cipher.update` size, in the stream and on the file path (where a chunk's
 * pieces go out in one writev). Each update's output is a fresh buffer: 64 KiB ones come from
 * the allocator's reused memory, 1 MiB ones cost fresh pages; node's cipher ran 1.7x faster in
 * 64 KiB updates than in 1 MiB ones here (BENCHMARKS.md, "recording", has the tables).
 */
export const UPDATE_SIZE = 64 * 1024;

const VERSION_0 = der.integer(0);
const MAC_HEADER = definiteHeader(0x04, GCM_TAG_LENGTH);

function recipientInfos(recipients: Recipient[], key: Buffer): Buffer {
  const infos = recipients.map((r) =>
    der.sequence(
      VERSION_0,
      der.sequence(r.issuerDer, r.serialTlv),
      RSAES_OAEP_SHA256_ALGORITHM,
      der.octetString(wrapSessionKey(r, key)),
    ),
  );
  // DER orders the members of a SET OF by their encodings.
  infos.sort(Buffer.compare);
  return der.set(...infos);
}

/** The bytes before the first ciphertext byte. */
function envelopeHeader(recipients: Recipient[], key: Buffer, iv: Buffer, contentLength?: number): Buffer {
  const infos = recipientInfos(recipients, key);
  const algorithm = aes256GcmAlgorithm(iv);
  if (contentLength === undefined) {
    return Buffer.concat([
      indefiniteHeader(0x30),
      ENCODED_OID.authEnvelopedData,
      indefiniteHeader(0xa0),
      indefiniteHeader(0x30),
      VERSION_0,
      infos,
      indefiniteHeader(0x30),
      ENCODED_OID.data,
      algorithm,
      indefiniteHeader(0xa0),
    ]);
  }
  const eciLength = ENCODED_OID.data.length + algorithm.length + tlvSize(contentLength);
  const aedLength = VERSION_0.length + infos.length + tlvSize(eciLength) + tlvSize(GCM_TAG_LENGTH);
  const explicitLength = tlvSize(aedLength);
  const contentInfoLength = ENCODED_OID.authEnvelopedData.length + tlvSize(explicitLength);
  return Buffer.concat([
    definiteHeader(0x30, contentInfoLength),
    ENCODED_OID.authEnvelopedData,
    definiteHeader(0xa0, explicitLength),
    definiteHeader(0x30, aedLength),
    VERSION_0,
    infos,
    definiteHeader(0x30, eciLength),
    ENCODED_OID.data,
    algorithm,
    definiteHeader(0x80, contentLength),
  ]);
}

/** The bytes after the last ciphertext byte: the tag, and the BER end-of-contents if any. */
function envelopeTrailer(tag: Buffer, definite: boolean): Buffer {
  if (definite) return Buffer.concat([MAC_HEADER, tag]);
  // end of [0] encryptedContent and of EncryptedContentInfo, the mac, then the three outer ends
  return Buffer.concat([
    END_OF_CONTENTS,
    END_OF_CONTENTS,
    MAC_HEADER,
    tag,
    END_OF_CONTENTS,
    END_OF_CONTENTS,
    END_OF_CONTENTS,
  ]);
}

/**
 * A Transform: plaintext in, CMS AuthEnvelopedData out. The recipients' certificates are read
 * and the session key is wrapped when it is constructed, so a bad certificate throws here.
 */
export class CmsEncryptStream extends Transform {
  private readonly cipher: CipherGCM;
  private readonly expectedLength: number | undefined;
  private header: Buffer | undefined;
  private readonly updateSize: number;
  private written = 0;

  constructor(certificates: readonly CertificateInput[], options: EncryptOptions = {}) {
    super({ readableHighWaterMark: READ_CHUNK_SIZE, writableHighWaterMark: READ_CHUNK_SIZE });
    if (certificates.length === 0) {
      throw new ValidationError('VALIDATION_ERROR', 'Encrypting a recording needs at least one certificate.');
    }
    const { contentLength, updateSize = UPDATE_SIZE } = options;
    if (!Number.isSafeInteger(updateSize) || updateSize <= 0) {
      throw new ValidationError('VALIDATION_ERROR', `updateSize must be a byte count, not ${updateSize}.`);
    }
    this.updateSize = updateSize;
    if (contentLength !== undefined && (!Number.isSafeInteger(contentLength) || contentLength < 0)) {
      throw new ValidationError(
        'VALIDATION_ERROR',
        `contentLength must be a byte count, not ${contentLength}.`,
      );
    }
    const recipients = certificates.map(toRecipient);
    const key = randomBytes(32);
    const iv = randomBytes(GCM_IV_LENGTH);
    this.header = envelopeHeader(recipients, key, iv, contentLength);
    this.cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_LENGTH });
    key.fill(0);
    this.expectedLength = contentLength;
  }

  /** Plaintext bytes encrypted so far. */
  get bytesIn(): number {
    return this.written;
  }

  private pushHeader(): void {
    if (this.header) {
      this.push(this.header);
      this.header = undefined;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pushHeader();
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.written += chunk.length;
    if (this.expectedLength !== undefined && this.written > this.expectedLength) {
      callback(this.lengthError());
      return;
    }
    for (let at = 0; at < chunk.length; at += this.updateSize) {
      const piece =
        at === 0 && chunk.length <= this.updateSize ? chunk : chunk.subarray(at, at + this.updateSize);
      const ciphertext = this.cipher.update(piece);
      if (this.expectedLength === undefined) this.push(definiteHeader(0x04, ciphertext.length));
      this.push(ciphertext);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.pushHeader();
    if (this.expectedLength !== undefined && this.written !== this.expectedLength) {
      callback(this.lengthError());
      return;
    }
    const rest = this.cipher.final(); // GCM is a stream mode: nothing is held back
    if (rest.length > 0) {
      if (this.expectedLength === undefined) this.push(definiteHeader(0x04, rest.length));
      this.push(rest);
    }
    this.push(envelopeTrailer(this.cipher.getAuthTag(), this.expectedLength !== undefined));
    callback();
  }

  private lengthError(): ValidationError {
    return new ValidationError(
      'VALIDATION_ERROR',
      `The input was announced as ${this.expectedLength} bytes but ${this.written} arrived (so far); it changed while it was read.`,
    );
  }
}

/** Creates a streaming encryptor to one or several recipient certificates. */
export function createEncryptStream(
  certificates: readonly CertificateInput[],
  options: EncryptOptions = {},
): CmsEncryptStream {
  return new CmsEncryptStream(certificates, options);
}

/** Options of {@link encryptFile}. */
export interface EncryptFileOptions extends ChunkOptions {
  /** Bytes per `cipher.update` within a chunk (default {@link UPDATE_SIZE}); for benchmarks. */
  updateSize?: number;
  /**
   * Called after each chunk with the plaintext bytes encrypted so far (a progress bar); regular
   * files only.
   */
  onProgress?: (bytesIn: number) => void;
}

/**
 * Encrypts the file at `inPath` to `outPath` (DER when the input is a regular file, BER
 * streaming otherwise). The output appears under its name only once it is complete.
 *
 * A regular file does not go through streams: reads run ahead in the fs threadpool into reused
 * buffers while the main thread encrypts, and each chunk's ciphertext is written while the next
 * is encrypted, so reading, the cipher and writing overlap on two cores.
 */
export async function encryptFile(
  inPath: string,
  outPath: string,
  certificates: readonly CertificateInput[],
  options: EncryptFileOptions = {},
): Promise<{ bytesIn: number }> {
  const input = await fs.open(inPath, 'r');
  try {
    const stat = await input.stat();
    if (!stat.isFile()) {
      const encryptor = createEncryptStream(certificates);
      await writeAtomically(outPath, async (out) => {
        await pipeline(
          input.createReadStream({ highWaterMark: READ_CHUNK_SIZE, autoClose: false }),
          encryptor,
          out,
        );
      });
      return { bytesIn: encryptor.bytesIn };
    }
    return await encryptRegularFile(input, stat.size, outPath, certificates, options);
  } finally {
    await input.close();
  }
}

async function encryptRegularFile(
  input: FileHandle,
  size: number,
  outPath: string,
  certificates: readonly CertificateInput[],
  options: EncryptFileOptions,
): Promise<{ bytesIn: number }> {
  const { chunkSize = READ_CHUNK_SIZE, updateSize = UPDATE_SIZE, onProgress } = options;
  if (!Number.isSafeInteger(updateSize) || updateSize <= 0) {
    throw new ValidationError('VALIDATION_ERROR', `updateSize must be a byte count, not ${updateSize}.`);
  }
  if (certificates.length === 0) {
    throw new ValidationError('VALIDATION_ERROR', 'Encrypting a recording needs at least one certificate.');
  }
  const recipients = certificates.map(toRecipient);
  const key = randomBytes(32);
  const iv = randomBytes(GCM_IV_LENGTH);
  let header: Buffer | undefined = envelopeHeader(recipients, key, iv, size);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_LENGTH });
  key.fill(0);
  const tooLong = (bytesIn: number) =>
    new ValidationError(
      'VALIDATION_ERROR',
      `The input was announced as ${size} bytes but ${bytesIn} arrived (so far); it changed while it was read.`,
    );
  return writeFileAtomically(outPath, async (out: OrderedWriter) => {
    let bytesIn = 0;
    await readChunks(
      input,
      async (chunk) => {
        bytesIn += chunk.length;
        if (bytesIn > size) throw tooLong(bytesIn);
        // One writev for the chunk's pieces: as few write calls as with one large update.
        const pieces: Buffer[] = header ? [header] : [];
        for (let at = 0; at < chunk.length; at += updateSize)
          pieces.push(cipher.update(chunk.subarray(at, at + updateSize)));
        await out.write(pieces);
        header = undefined;
        onProgress?.(bytesIn);
      },
      chunkSize,
    );
    if (bytesIn !== size) throw tooLong(bytesIn);
    const rest = cipher.final(); // GCM is a stream mode: nothing is held back
    await out.write([...(header ? [header] : []), rest, envelopeTrailer(cipher.getAuthTag(), true)]);
    return { bytesIn };
  });
}
