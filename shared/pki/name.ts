/**
 * Distinguished names printed exactly as `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb`
 * prints them: RDNs in reverse order, ',' and '+' separators, OpenSSL's short names, RFC 2253
 * escaping, control characters as \XX, non-ASCII as raw UTF-8, and unknown attribute types or
 * value types hex-dumped as '#' + DER.
 */
import { children, DerError, type DerNode, decodeOid, readTlv, TAG } from './der';
import { NAME_ATTRIBUTE_SHORT_NAMES } from './oids';

interface Ava {
  oid: string;
  value: DerNode;
  rdnIndex: number;
}

function flattenName(name: DerNode): Ava[] {
  if (name.tag !== TAG.SEQUENCE) throw new DerError('a Name must be a SEQUENCE');
  const avas: Ava[] = [];
  children(name).forEach((rdn, rdnIndex) => {
    if (rdn.tag !== TAG.SET) throw new DerError('an RDN must be a SET');
    const members = children(rdn);
    if (members.length === 0) throw new DerError('empty RDN');
    for (const ava of members) {
      const parts = children(ava);
      const [type, value] = parts;
      if (parts.length !== 2 || !type || !value || type.tag !== TAG.OID) {
        throw new DerError('an attribute must be SEQUENCE { OID, value }');
      }
      avas.push({ oid: decodeOid(type.value), value, rdnIndex });
    }
  });
  return avas;
}

// Per-character escape classes of OpenSSL's char_type table, for the RFC 2253 flags.
const ALWAYS_ESCAPE = new Set([0x22, 0x2b, 0x2c, 0x3b, 0x3c, 0x3e, 0x5c]); // " + , ; < > \
const SPACE = 0x20;
const HASH = 0x23;

/** Code points of a string value per its ASN.1 type, or null when OpenSSL would hex-dump it. */
function codeUnits(value: DerNode): { units: number[]; utf8Raw: boolean } | null {
  const bytes = value.value;
  switch (value.tag) {
    case TAG.UTF8_STRING:
      // OpenSSL prints UTF8String bytes one by one (no re-encoding).
      return { units: [...bytes], utf8Raw: true };
    case 0x12: // NumericString
    case TAG.PRINTABLE_STRING:
    case TAG.T61_STRING:
    case TAG.IA5_STRING:
    case TAG.UTC_TIME:
    case TAG.GENERALIZED_TIME:
    case TAG.VISIBLE_STRING:
      return { units: [...bytes], utf8Raw: false };
    case TAG.BMP_STRING: {
      if (bytes.length % 2 !== 0) throw new DerError('BMPString with an odd length');
      const units: number[] = [];
      for (let i = 0; i < bytes.length; i += 2) units.push(bytes.readUInt16BE(i));
      return { units, utf8Raw: false };
    }
    case TAG.UNIVERSAL_STRING: {
      if (bytes.length % 4 !== 0) throw new DerError('UniversalString length not a multiple of 4');
      const units: number[] = [];
      for (let i = 0; i < bytes.length; i += 4) units.push(bytes.readUInt32BE(i));
      return { units, utf8Raw: false };
    }
    default:
      return null;
  }
}

function utf8Bytes(codePoint: number): number[] {
  if (codePoint > 0x10ffff) throw new DerError('code point out of range');
  return [...Buffer.from(String.fromCodePoint(codePoint), 'utf8')];
}

/**
 * Appends one by one: spreading (`push(...bytes)`) passes every byte as an argument and overflows
 * the stack on long names, which a hostile certificate can carry within the upload limit.
 */
function pushAll(out: number[], bytes: Iterable<number>): void {
  for (const b of bytes) out.push(b);
}

function escapeValue(value: DerNode): number[] {
  const decoded = codeUnits(value);
  if (!decoded) return [...Buffer.from(`#${value.raw.toString('hex').toUpperCase()}`, 'latin1')];
  const out: number[] = [];
  const { units, utf8Raw } = decoded;
  units.forEach((c, i) => {
    const first = i === 0;
    const last = i === units.length - 1;
    if (c > 0x7f) {
      // ESC_MSB is off: bytes above 0x7f are written as they are (UTF-8).
      if (utf8Raw) out.push(c);
      else for (const b of utf8Bytes(c)) out.push(b);
      return;
    }
    // OpenSSL checks "last" after "first", so a one-character value gets only the last rule.
    const escapeHere =
      ALWAYS_ESCAPE.has(c) || (last && c === SPACE) || (first && !last && (c === SPACE || c === HASH));
    if (escapeHere) {
      out.push(0x5c, c);
    } else if (c < 0x20 || c === 0x7f) {
      pushAll(out, Buffer.from(`\\${c.toString(16).toUpperCase().padStart(2, '0')}`, 'latin1'));
    } else {
      out.push(c);
    }
  });
  return out;
}

/** The RFC 4514 string of a DER Name, as OpenSSL prints it with `-nameopt RFC2253,-esc_msb`. */
export function formatName(name: DerNode): string {
  const avas = flattenName(name).reverse();
  const out: number[] = [];
  let previousRdn = -1;
  for (const ava of avas) {
    if (previousRdn !== -1) out.push(previousRdn === ava.rdnIndex ? 0x2b : 0x2c);
    previousRdn = ava.rdnIndex;
    const short = NAME_ATTRIBUTE_SHORT_NAMES[ava.oid];
    pushAll(out, Buffer.from(`${short ?? ava.oid}=`, 'latin1'));
    if (short) pushAll(out, escapeValue(ava.value));
    else pushAll(out, Buffer.from(`#${ava.value.raw.toString('hex').toUpperCase()}`, 'latin1'));
  }
  return Buffer.from(out).toString('utf8');
}

/** The plain (unescaped) text of a string value, or undefined for non-string types. */
export function stringValue(value: DerNode): string | undefined {
  const decoded = codeUnits(value);
  if (!decoded) return undefined;
  if (decoded.utf8Raw) return value.value.toString('utf8');
  let text = '';
  for (const unit of decoded.units) if (unit <= 0x10ffff) text += String.fromCodePoint(unit);
  return text;
}

/** Values of one attribute type in DER order (e.g. all CNs). */
export function attributeValues(name: DerNode, oid: string): string[] {
  return flattenName(name)
    .filter((a) => a.oid === oid)
    .map((a) => stringValue(a.value))
    .filter((v): v is string => v !== undefined);
}

/** Parses a Name from its DER bytes (convenience for tests and tools). */
export function formatNameDer(der: Buffer): string {
  return formatName(readTlv(der));
}
