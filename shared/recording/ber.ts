/**
 * The BER pieces CMS streaming needs on top of the strict DER reader in `shared/pki/der.ts`:
 * TLV headers that may be incomplete (the bytes arrive in chunks), indefinite lengths, and
 * the end of an element whose length is indefinite. Everything is bounded: lengths above
 * 2^48, multi-byte tags and nesting deeper than the caller allows fail with a `BerError`.
 */

/** Malformed BER; `offset` is relative to the buffer handed to the reader. */
export class BerError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'BerError';
    this.offset = offset;
  }
}

/** A TLV header. `length` is undefined for the indefinite form (constructed only). */
export interface BerHeader {
  tag: number;
  constructed: boolean;
  headerLength: number;
  length: number | undefined;
}

/** The longest header this reader accepts: one tag byte, 0x86 and six length bytes. */
export const MAX_HEADER_LENGTH = 8;

/**
 * Reads the TLV header at `offset`. Returns undefined when `buf` ends before the header does
 * (read more and retry); throws `BerError` when the header can never be valid.
 */
export function readBerHeader(buf: Buffer, offset: number): BerHeader | undefined {
  if (offset >= buf.length) return undefined;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new BerError('multi-byte tags are not supported', offset);
  if (offset + 1 >= buf.length) return undefined;
  const first = buf[offset + 1]!;
  const constructed = (tag & 0x20) !== 0;
  if (first < 0x80) return { tag, constructed, headerLength: 2, length: first };
  if (first === 0x80) {
    if (!constructed) throw new BerError('a primitive value cannot have an indefinite length', offset);
    return { tag, constructed, headerLength: 2, length: undefined };
  }
  const count = first & 0x7f;
  // Six bytes is 256 TiB: anything longer is a length that lies, not a recording.
  if (count > 6) throw new BerError('length field too long', offset);
  if (offset + 2 + count > buf.length) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
  return { tag, constructed, headerLength: 2 + count, length };
}

/**
 * The offset just past the element at `offset`, following indefinite lengths down to
 * `maxDepth` levels. Returns undefined when `buf` ends first.
 */
export function berElementEnd(buf: Buffer, offset: number, maxDepth: number): number | undefined {
  const header = readBerHeader(buf, offset);
  if (!header) return undefined;
  const start = offset + header.headerLength;
  if (header.length !== undefined) {
    const end = start + header.length;
    return end <= buf.length ? end : undefined;
  }
  if (maxDepth <= 0) throw new BerError('nesting too deep', offset);
  let pos = start;
  for (;;) {
    if (pos + 2 > buf.length) return undefined;
    if (buf[pos] === 0 && buf[pos + 1] === 0) return pos + 2;
    const end = berElementEnd(buf, pos, maxDepth - 1);
    if (end === undefined) return undefined;
    pos = end;
  }
}

/** Encodes a definite length. */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A header with a definite length, for values written separately (streamed). */
export function definiteHeader(tag: number, length: number): Buffer {
  const len = encodeLength(length);
  const out = Buffer.allocUnsafe(1 + len.length);
  out[0] = tag;
  len.copy(out, 1);
  return out;
}

/** A constructed header with the indefinite length; close it with `END_OF_CONTENTS`. */
export function indefiniteHeader(tag: number): Buffer {
  return Buffer.from([tag, 0x80]);
}

/** The end-of-contents octets that close an indefinite-length value. */
export const END_OF_CONTENTS: Buffer = Buffer.from([0, 0]);

/** Bytes a TLV with a `length`-byte value takes in total. */
export function tlvSize(length: number): number {
  return 1 + encodeLength(length).length + length;
}
