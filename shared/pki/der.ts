/**
 * A small, strict DER reader and writer: just what certificate, key and CMS handling need.
 * The reader is bounded (depth and lengths are checked against the buffer) so hostile input
 * fails fast with a `DerError` instead of hanging or crashing.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV. `raw` is the whole encoding (tag, length, value); `value` is the contents. */
export interface DerNode {
  tag: number;
  raw: Buffer;
  value: Buffer;
}

const MAX_DEPTH = 32;

/** Reads the TLV at `offset`; requires a single-byte tag and a definite, minimal-enough length. */
export function readTlv(buf: Buffer, offset = 0): DerNode & { end: number } {
  if (offset + 2 > buf.length) throw new DerError('truncated: no room for tag and length');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let lenByte = buf[offset + 1]!;
  let pos = offset + 2;
  let length: number;
  if (lenByte < 0x80) {
    length = lenByte;
  } else {
    lenByte &= 0x7f;
    if (lenByte === 0) throw new DerError('indefinite length is not DER');
    if (lenByte > 4) throw new DerError('length field too long');
    if (pos + lenByte > buf.length) throw new DerError('truncated length field');
    length = 0;
    for (let i = 0; i < lenByte; i++) length = length * 256 + buf[pos + i]!;
    pos += lenByte;
  }
  const end = pos + length;
  if (end > buf.length) throw new DerError('length runs past the end of the data');
  return { tag, raw: buf.subarray(offset, end), value: buf.subarray(pos, end), end };
}

/** Parses exactly one TLV that must span the whole buffer. */
export function parseDer(buf: Buffer): DerNode {
  const node = readTlv(buf, 0);
  if (node.end !== buf.length) throw new DerError('trailing data after the DER value');
  return node;
}

/** The children of a constructed node (SEQUENCE, SET, or a constructed context tag). */
export function children(node: DerNode, depth = 0): DerNode[] {
  if (depth > MAX_DEPTH) throw new DerError('nesting too deep');
  if ((node.tag & 0x20) === 0) throw new DerError(`tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < node.value.length) {
    const child = readTlv(node.value, pos);
    out.push({ tag: child.tag, raw: child.raw, value: child.value });
    pos = child.end;
  }
  return out;
}

/** The child at `index`, which must exist and (if given) have `tag`. */
export function child(list: DerNode[], index: number, tag?: number): DerNode {
  const node = list[index];
  if (!node) throw new DerError(`missing element ${index}`);
  if (tag !== undefined && node.tag !== tag) {
    throw new DerError(
      `element ${index}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`,
    );
  }
  return node;
}

export function expectTag(node: DerNode, tag: number): DerNode {
  if (node.tag !== tag)
    throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** Decodes an OBJECT IDENTIFIER's contents to dotted form. */
export function decodeOid(value: Buffer): string {
  if (value.length === 0 || value.length > 128) throw new DerError('bad OID length');
  const parts: number[] = [];
  let acc = 0;
  let started = false;
  for (const byte of value) {
    if (!started && byte === 0x80) throw new DerError('non-minimal OID arc');
    started = (byte & 0x80) !== 0;
    acc = acc * 128 + (byte & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 256) throw new DerError('OID arc too large');
    if ((byte & 0x80) === 0) {
      parts.push(acc);
      acc = 0;
    }
  }
  if (started) throw new DerError('truncated OID');
  const first = parts.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

export function readOid(node: DerNode): string {
  return decodeOid(expectTag(node, TAG.OID).value);
}

/** An INTEGER's contents as a signed BigInt. */
export function integerToBigInt(value: Buffer): bigint {
  if (value.length === 0) throw new DerError('empty INTEGER');
  let n = BigInt(`0x${value.toString('hex')}`);
  if ((value[0]! & 0x80) !== 0) n -= 1n << BigInt(value.length * 8);
  return n;
}

/** A small non-negative INTEGER as a number (refuses anything above 2^48). */
export function readSmallInt(node: DerNode): number {
  const v = expectTag(node, TAG.INTEGER).value;
  if (v.length === 0 || v.length > 7 || (v[0]! & 0x80) !== 0) throw new DerError('INTEGER out of range');
  return Number(`0x${v.toString('hex')}`);
}

/** UTCTime or GeneralizedTime (the forms X.509 allows: ...Z) to a Date. */
export function readTime(node: DerNode): Date {
  const s = node.value.toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/.exec(s);
    if (!m) throw new DerError(`bad UTCTime '${s}'`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.\d+)?Z$/.exec(s);
    if (!m) throw new DerError(`bad GeneralizedTime '${s}'`);
    year = Number(m[1]);
  } else {
    throw new DerError('expected a time');
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (
    Number.isNaN(date.getTime()) ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 60
  ) {
    throw new DerError(`invalid date '${s}'`);
  }
  return date;
}

// ---------------------------------------------------------------------------------------------
// Writer

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  let n = length;
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export const der = {
  sequence: (...items: Buffer[]) => tlv(TAG.SEQUENCE, Buffer.concat(items)),
  set: (...items: Buffer[]) => tlv(TAG.SET, Buffer.concat(items)),
  /** Context-specific constructed [n] (explicit tagging). */
  explicit: (n: number, inner: Buffer) => tlv(0xa0 | n, inner),
  /** Context-specific primitive [n] (implicit tagging of a primitive). */
  implicit: (n: number, value: Buffer) => tlv(0x80 | n, value),
  null: () => Buffer.from([TAG.NULL, 0]),
  boolean: (v: boolean) => tlv(TAG.BOOLEAN, Buffer.from([v ? 0xff : 0])),
  octetString: (v: Buffer) => tlv(TAG.OCTET_STRING, v),
  bitString: (v: Buffer, unusedBits = 0) =>
    tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), v])),
  utf8: (s: string) => tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8')),
  printable: (s: string) => tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1')),
  /** A non-negative INTEGER from a BigInt or big-endian magnitude bytes. */
  integer: (v: bigint | Buffer | number) => {
    let bytes: Buffer;
    if (Buffer.isBuffer(v)) {
      bytes = v;
    } else {
      let hex = BigInt(v).toString(16);
      if (hex.length % 2) hex = `0${hex}`;
      bytes = Buffer.from(hex, 'hex');
    }
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0 && (bytes[start + 1]! & 0x80) === 0) start++;
    bytes = bytes.subarray(start);
    if (bytes.length === 0) bytes = Buffer.from([0]);
    if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return tlv(TAG.INTEGER, bytes);
  },
  oid: (dotted: string) => {
    const arcs = dotted.split('.').map(Number);
    const [a, b, ...rest] = arcs as [number, number, ...number[]];
    const out: number[] = [];
    for (const arc of [a * 40 + b, ...rest]) {
      const chunk: number[] = [arc & 0x7f];
      let n = Math.floor(arc / 128);
      while (n > 0) {
        chunk.unshift((n & 0x7f) | 0x80);
        n = Math.floor(n / 128);
      }
      out.push(...chunk);
    }
    return tlv(TAG.OID, Buffer.from(out));
  },
  /** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
  time: (d: Date) => {
    const iso = d.toISOString();
    const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
    const year = d.getUTCFullYear();
    if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(`${digits.slice(2)}Z`, 'latin1'));
    return tlv(TAG.GENERALIZED_TIME, Buffer.from(`${digits}Z`, 'latin1'));
  },
};
