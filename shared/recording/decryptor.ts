/**
 * Streaming CMS AuthEnvelopedData decryptor. It reads the header (at most 1 MiB), asks a
 * `SessionKeyUnwrapper` for the content-encryption key of a recipient that matches the caller's
 * certificates, decrypts the content as it arrives and checks the GCM tag at the very end.
 *
 * GCM can only say whether the plaintext was genuine once the last byte is in. So the stream
 * emits plaintext as it goes, but ends ('end'/'finish', `completed` resolving) only after the tag
 * verified and the structure closed exactly at the end of the input; otherwise it fails with
 * `INTEGRITY_CHECK_FAILED` and whatever it emitted must be thrown away. `decryptFile` does that
 * for you: it writes to a temporary file and renames it only on success.
 */
import { createDecipheriv, type DecipherGCM } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, hasCode, ValidationError } from '../errors';
import { formatSerial } from '../pki/certificate';
import { children, DerError, type DerNode, decodeOid, parseDer, readOid, TAG } from '../pki/der';
import { BerError, type BerHeader, berElementEnd, MAX_HEADER_LENGTH, readBerHeader } from './ber';
import { CMS_OID, ENCODED_OID, GCM_CIPHERS } from './cms';
import { READ_CHUNK_SIZE, writeAtomically } from './files';
import type { RecipientId, SessionKeyUnwrapper } from './ports';
import { type CertificateInput, sameRecipient, toRecipient } from './recipients';

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
  /** The recipient whose wrapped key opened the message. */
  recipient: RecipientId;
  /** Dotted OID of the encrypted content type (normally id-data). */
  contentType: string;
  /** Plaintext bytes written. */
  bytesOut: number;
  /** Unwrap attempts (private-key operations) it took, at most `MAX_KEY_OPERATIONS`. */
  unwrapAttempts: number;
}

/**
 * Most RecipientInfos (of any kind) a message may have (DESIGN section 9); more is
 * `TOO_MANY_RECIPIENTS`, decided while the header is read.
 */
export const MAX_RECIPIENTS = 16;
/**
 * Most unwrap attempts (private-key operations) one decryption makes, however many recipients
 * name a key that is held: an attacker's message cannot buy more RSA work than this.
 */
export const MAX_KEY_OPERATIONS = 4;

const DEFAULT_MAX_HEADER = 1024 * 1024;
/** Room after the content for the mac, unauthenticated attributes and end-of-contents octets. */
const MAX_TRAILER = 64 * 1024;
/** Nesting of constructed OCTET STRINGs inside the content, and of skipped header elements. */
const MAX_CONTENT_DEPTH = 8;
const MAX_SKIP_DEPTH = 16;
const EMPTY = Buffer.alloc(0);

type Frame = { end: number | undefined; name: string };

interface ParsedRecipient {
  id: RecipientId;
  wrappedKey: Buffer;
  /** Why this recipient cannot be used, if it cannot. */
  unsupported: string | undefined;
}

interface ParsedHeader {
  /** Absolute offset of the first content byte (after the [0] encryptedContent header). */
  contentStart: number;
  /** Open containers: ContentInfo, [0], AuthEnvelopedData, EncryptedContentInfo. */
  frames: Frame[];
  /** The [0] encryptedContent: primitive with a length, or constructed (a frame). */
  content: { primitive: true; length: number } | { primitive: false; frame: Frame };
  recipients: ParsedRecipient[];
  otherRecipientKinds: string[];
  cipher: { cipher: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'; keyLength: number };
  iv: Buffer;
  tagLength: number;
  contentType: string;
}

/** Thrown inside the header parser when more bytes are needed; `need` is a lower bound. */
class NeedMore {
  constructor(readonly need: number) {}
}

function notCms(message: string, cause?: unknown): ValidationError {
  return new ValidationError('NOT_CMS', message, cause === undefined ? undefined : { cause });
}

function damaged(detail: string, cause?: unknown): ValidationError {
  return new ValidationError(
    'INTEGRITY_CHECK_FAILED',
    `The recording failed its integrity check: ${detail}. The file was altered, damaged or cut short; discard anything decrypted from it and use an intact copy.`,
    cause === undefined ? undefined : { cause },
  );
}

function tooManyRecipients(): ValidationError {
  return new ValidationError(
    'TOO_MANY_RECIPIENTS',
    `The recording has more than ${MAX_RECIPIENTS} recipients; at most ${MAX_RECIPIENTS} are accepted, so that opening one recording costs a bounded amount of RSA work. Encrypt it for fewer certificates.`,
  );
}

function describeOid(oid: string): string {
  const names: Record<string, string> = {
    [CMS_OID.envelopedData]: 'EnvelopedData',
    [CMS_OID.signedData]: 'SignedData',
    [CMS_OID.data]: 'Data',
    '2.16.840.1.101.3.4.1.2': 'AES-128-CBC',
    '2.16.840.1.101.3.4.1.22': 'AES-192-CBC',
    '2.16.840.1.101.3.4.1.42': 'AES-256-CBC',
    [CMS_OID.rsaEncryption]: 'RSA PKCS#1 v1.5',
  };
  return names[oid] ? `${names[oid]} (${oid})` : oid;
}

const OAEP_HINT = 'encrypt with -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256';

/** The children of a node that must be a SEQUENCE. */
function seq(node: DerNode | undefined, what: string): DerNode[] {
  if (!node || node.tag !== TAG.SEQUENCE) throw new DerError(`${what} is not a SEQUENCE`);
  return children(node);
}

/** A hash AlgorithmIdentifier: an OID with absent or NULL parameters. */
function hashAlgorithm(node: DerNode | undefined): string {
  const [oid, params, ...rest] = seq(node, 'a hash AlgorithmIdentifier');
  if (!oid || rest.length > 0 || (params && (params.tag !== TAG.NULL || params.value.length !== 0))) {
    throw new DerError('malformed hash AlgorithmIdentifier');
  }
  return readOid(oid);
}

/** Why an RSAES-OAEP parameter set is not SHA-256/MGF1-SHA-256/empty label, or undefined. */
function oaepProblem(params: DerNode | undefined): string | undefined {
  if (!params) return 'RSAES-OAEP with its SHA-1 defaults is not supported';
  let hash: string = CMS_OID.sha1;
  let mgfHash: string = CMS_OID.sha1;
  let previous = 0;
  for (const field of seq(params, 'RSAES-OAEP parameters')) {
    const inner = children(field);
    if (field.tag <= previous || inner.length !== 1) throw new DerError('malformed RSAES-OAEP parameters');
    previous = field.tag;
    if (field.tag === 0xa0) {
      hash = hashAlgorithm(inner[0]);
    } else if (field.tag === 0xa1) {
      const [mgf, mgfParams, ...rest] = seq(inner[0], 'the mask generation AlgorithmIdentifier');
      if (!mgf || rest.length > 0) throw new DerError('malformed mask generation AlgorithmIdentifier');
      if (readOid(mgf) !== CMS_OID.mgf1) return 'only the MGF1 mask generation is supported';
      mgfHash = hashAlgorithm(mgfParams);
    } else if (field.tag === 0xa2) {
      const [source, label, ...rest] = seq(inner[0], 'the pSource AlgorithmIdentifier');
      if (!source || !label || rest.length > 0 || label.tag !== TAG.OCTET_STRING) {
        throw new DerError('malformed pSource AlgorithmIdentifier');
      }
      if (readOid(source) !== CMS_OID.pSpecified || label.value.length !== 0) {
        return 'an RSAES-OAEP label is not supported';
      }
    } else {
      throw new DerError('malformed RSAES-OAEP parameters');
    }
  }
  if (hash !== CMS_OID.sha256 || mgfHash !== CMS_OID.sha256) {
    return `RSAES-OAEP with hash ${hash} and MGF1 hash ${mgfHash} is not supported (SHA-256 is); ${OAEP_HINT}`;
  }
  return undefined;
}

function parseKeyTransRecipient(raw: Buffer): ParsedRecipient | string {
  const parts = seq(parseDer(raw), 'KeyTransRecipientInfo');
  const [version, rid, algorithm, encryptedKey, ...rest] = parts;
  if (
    !version ||
    !rid ||
    !algorithm ||
    !encryptedKey ||
    rest.length > 0 ||
    encryptedKey.tag !== TAG.OCTET_STRING
  ) {
    throw new DerError('malformed KeyTransRecipientInfo');
  }
  if (rid.tag !== TAG.SEQUENCE) return 'a recipient identified by subject key identifier (openssl -keyid)';
  // RFC 5652 6.2.1: version 0 goes with issuerAndSerialNumber.
  if (!version.raw.equals(Buffer.from([2, 1, 0])))
    throw new DerError('KeyTransRecipientInfo version is not 0');
  const [issuer, serial] = children(rid);
  if (!issuer || issuer.tag !== TAG.SEQUENCE || !serial || serial.tag !== TAG.INTEGER) {
    throw new DerError('malformed issuerAndSerialNumber');
  }
  const [algorithmOid, params, ...extra] = seq(algorithm, 'the key transport AlgorithmIdentifier');
  if (!algorithmOid || extra.length > 0) throw new DerError('malformed AlgorithmIdentifier');
  const oid = readOid(algorithmOid);
  const unsupported =
    oid === CMS_OID.rsaesOaep
      ? oaepProblem(params)
      : `key transport ${describeOid(oid)} is not supported; ${OAEP_HINT}`;
  return {
    id: { issuerDer: Buffer.from(issuer.raw), serialHex: formatSerial(serial.value) },
    wrappedKey: Buffer.from(encryptedKey.value),
    unsupported,
  };
}

/**
 * Parses everything before the encrypted content. Throws `NeedMore` while `buf` is too short,
 * `ValidationError(NOT_CMS)` when the input is not an AuthEnvelopedData we can open.
 */
function parseHeader(buf: Buffer, marks: { contentTypeSeen: boolean }): ParsedHeader {
  let pos = 0;
  const frames: Frame[] = [];

  const fits = (end: number, what: string): void => {
    for (const f of frames) {
      if (f.end !== undefined && end > f.end)
        throw new BerError(`${what} runs past the end of ${f.name}`, pos);
    }
  };
  const header = (what: string): BerHeader => {
    const h = readBerHeader(buf, pos);
    if (!h) throw new NeedMore(pos + 2);
    if (h.length !== undefined) fits(pos + h.headerLength + h.length, what);
    return h;
  };
  const open = (tag: number, name: string): Frame => {
    const h = header(name);
    if (h.tag !== tag) throw new BerError(`expected ${name}`, pos);
    pos += h.headerLength;
    const frame = { end: h.length === undefined ? undefined : pos + h.length, name };
    frames.push(frame);
    return frame;
  };
  /** A whole element; `raw` is its encoding. */
  const element = (what: string): { tag: number; raw: Buffer } => {
    const h = header(what);
    const end = berElementEnd(buf, pos, MAX_SKIP_DEPTH);
    if (end === undefined) {
      throw new NeedMore(h.length === undefined ? buf.length + 1 : pos + h.headerLength + h.length);
    }
    fits(end, what);
    const raw = buf.subarray(pos, end);
    pos = end;
    return { tag: h.tag, raw };
  };

  // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
  if (buf.subarray(0, 10).toString('latin1').startsWith('-----BEGIN')) {
    throw notCms(
      'The input is PEM text; recordings are binary CMS (DER or BER). Convert it first: openssl cms -cmsout -inform PEM -outform DER.',
    );
  }
  if (/^(MIME-Version|Content-)/i.test(buf.subarray(0, 16).toString('latin1'))) {
    throw notCms('The input is S/MIME text; write the recording with -outform DER.');
  }
  if (buf[0] !== 0x30) throw notCms('The input is not CMS: it does not start with an ASN.1 SEQUENCE.');
  open(0x30, 'ContentInfo');
  const contentType = element('contentType');
  if (contentType.tag !== TAG.OID) throw notCms('The input is not CMS: ContentInfo has no content type.');
  const type = decodeOid(parseDer(contentType.raw).value);
  if (type !== CMS_OID.authEnvelopedData) {
    throw notCms(
      `The input is CMS ${describeOid(type)}, not AuthEnvelopedData; recordings are encrypted with openssl cms -encrypt -aes-256-gcm.`,
    );
  }
  marks.contentTypeSeen = true;
  open(0xa0, '[0] content');
  open(0x30, 'AuthEnvelopedData');
  const version = element('version');
  if (!version.raw.equals(Buffer.from([2, 1, 0])))
    throw notCms('Only AuthEnvelopedData version 0 is supported.');
  if (buf[pos] === undefined) throw new NeedMore(pos + 1);
  if (buf[pos] === 0xa0) element('originatorInfo');

  // The recipients are counted as they arrive, so that a message with thousands of them is
  // refused once the limit's worth is in, before the rest is read or any RSA work is done.
  const infos = open(0x31, 'recipientInfos');
  const recipients: ParsedRecipient[] = [];
  const otherRecipientKinds: string[] = [];
  for (let count = 0; ; ) {
    if (infos.end !== undefined ? pos >= infos.end : buf[pos] === 0) {
      if (infos.end === undefined) {
        if (buf[pos + 1] === undefined) throw new NeedMore(pos + 2);
        if (buf[pos + 1] !== 0) throw new BerError('malformed end of recipientInfos', pos);
        pos += 2;
      }
      break;
    }
    if (buf[pos] === undefined) throw new NeedMore(pos + 1);
    if (++count > MAX_RECIPIENTS) throw tooManyRecipients();
    const info = element('a RecipientInfo');
    if (info.tag === TAG.SEQUENCE) {
      const parsed = parseKeyTransRecipient(info.raw);
      if (typeof parsed === 'string') otherRecipientKinds.push(parsed);
      else recipients.push(parsed);
    } else {
      const kinds: Record<number, string> = {
        161: 'key agreement',
        162: 'KEK',
        163: 'password',
        164: 'other',
      };
      otherRecipientKinds.push(`a ${kinds[info.tag] ?? 'unknown'} recipient`);
    }
  }
  frames.pop();

  open(0x30, 'EncryptedContentInfo');
  const innerType = element('content type');
  if (innerType.tag !== TAG.OID) throw new BerError('expected the encrypted content type', pos);
  // The content type is outside the GCM authentication (no authAttrs): only accept the one
  // recordings use, so that it cannot be swapped unnoticed.
  if (!innerType.raw.equals(ENCODED_OID.data)) {
    throw notCms('The encrypted content is not of type id-data; recordings are plain data.');
  }
  const algorithm = element('contentEncryptionAlgorithm');
  const [algorithmOid, params, ...extra] = seq(
    parseDer(Buffer.from(algorithm.raw)),
    'contentEncryptionAlgorithm',
  );
  if (!algorithmOid || extra.length > 0) throw new BerError('malformed contentEncryptionAlgorithm', pos);
  const algorithmName = readOid(algorithmOid);
  const cipher = GCM_CIPHERS[algorithmName];
  if (!cipher) {
    throw notCms(
      `Content encryption ${describeOid(algorithmName)} is not supported; recordings use AES-GCM (openssl cms -encrypt -aes-256-gcm).`,
    );
  }
  const [nonce, icvLen, ...more] = seq(params, 'GCMParameters');
  if (more.length > 0) throw new BerError('malformed GCMParameters', pos);
  if (!nonce || nonce.tag !== TAG.OCTET_STRING || nonce.value.length < 1 || nonce.value.length > 64) {
    throw notCms('The AES-GCM parameters carry no usable nonce.');
  }
  let tagLength = 12; // RFC 5084 default
  if (icvLen) {
    if (icvLen.tag !== TAG.INTEGER || icvLen.value.length !== 1)
      throw notCms('The AES-GCM tag length is malformed.');
    tagLength = icvLen.value[0]!;
  }
  if (tagLength < 12 || tagLength > 16)
    throw notCms(`An AES-GCM tag of ${tagLength} bytes is not supported (12 to 16).`);

  // [0] IMPLICIT encryptedContent: primitive, or constructed from OCTET STRING pieces
  const contentHeader = header('encryptedContent');
  let content: ParsedHeader['content'];
  if (contentHeader.tag === 0x80) {
    content = { primitive: true, length: contentHeader.length! };
    pos += contentHeader.headerLength;
  } else if (contentHeader.tag === 0xa0) {
    content = { primitive: false, frame: open(0xa0, 'encryptedContent') };
    frames.pop();
  } else {
    throw notCms('The message has no encrypted content (detached content is not supported).');
  }
  return {
    contentStart: pos,
    frames,
    content,
    recipients,
    otherRecipientKinds,
    cipher,
    iv: Buffer.from(nonce.value),
    tagLength,
    contentType: CMS_OID.data,
  };
}

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

  private parsed: ParsedHeader | undefined;
  private recipient: RecipientId | undefined;
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
  private keyOperations = 0;

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
    return this.keyOperations;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
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
        unwrapAttempts: this.keyOperations,
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
      callback();
      return;
    }
    const buf = this.headerChunks.length === 1 ? this.headerChunks[0]! : Buffer.concat(this.headerChunks);
    this.headerChunks = [buf];
    let parsed: ParsedHeader;
    try {
      parsed = parseHeader(buf, this.marks);
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
      parseHeader(buf, this.marks);
    } catch (error) {
      if (!(error instanceof NeedMore)) throw error;
    }
    if (!this.marks.contentTypeSeen) throw notCms('The input is not CMS: it ends before a content type.');
    throw damaged(`the input ended at byte ${buf.length}, inside the CMS header`);
  }

  private async unwrapKey(parsed: ParsedHeader): Promise<void> {
    const ours = this.ours;
    const candidates = ours
      ? parsed.recipients.filter((r) => ours.some((o) => sameRecipient(o, r.id)))
      : parsed.recipients;
    const listed = parsed.recipients.map((r) => r.id.serialHex).join(', ') || 'none';
    if (candidates.length === 0) {
      const extra = parsed.otherRecipientKinds.length
        ? ` (also ${parsed.otherRecipientKinds.join(', ')})`
        : '';
      throw new ValidationError(
        'NO_MATCHING_KEY',
        ours
          ? `This recording was encrypted for certificate serial(s) ${listed}${extra}; none is yours (${ours.map((o) => o.serialHex).join(', ')}). Use the key of a certificate it was encrypted for.`
          : `This recording has no RSA recipient identified by issuer and serial number${extra}.`,
      );
    }
    const usable = candidates.filter((r) => r.unsupported === undefined);
    if (usable.length === 0) {
      throw notCms(`The recording cannot be opened: ${candidates[0]!.unsupported}.`);
    }
    let lastError: unknown;
    for (const r of usable) {
      if (this.keyOperations === MAX_KEY_OPERATIONS) {
        throw new ValidationError(
          'NO_MATCHING_KEY',
          `No session key could be unwrapped after ${MAX_KEY_OPERATIONS} attempts, the most one recording may cost (${usable.length} recipients could be tried). Name the key's certificate so that only its recipient is tried, or use a recording with fewer recipients for the same key.`,
          { cause: lastError },
        );
      }
      this.keyOperations++;
      let key: Buffer;
      try {
        key = await this.unwrapper.unwrap(r.id, r.wrappedKey);
      } catch (error) {
        if (hasCode(error, 'SERVICE_UNAVAILABLE')) throw error;
        lastError = error;
        continue;
      }
      if (key.length !== parsed.cipher.keyLength) {
        key.fill(0);
        lastError = new Error(
          `unwrapped ${key.length} bytes, expected a ${parsed.cipher.keyLength}-byte key`,
        );
        continue;
      }
      this.decipher = createDecipheriv(parsed.cipher.cipher, key, parsed.iv, {
        authTagLength: parsed.tagLength,
      });
      key.fill(0);
      this.recipient = r.id;
      this.parsed = parsed;
      this.abs = parsed.contentStart;
      this.frames = parsed.frames;
      this.contentBase = parsed.frames.length;
      if (parsed.content.primitive) this.remaining = parsed.content.length;
      else this.frames.push(parsed.content.frame);
      return;
    }
    throw new ValidationError(
      'NO_MATCHING_KEY',
      `The private key could not unwrap this recording's session key (recipient serial ${usable.map((r) => r.id.serialHex).join(', ')}): it is not the key of that certificate, or the wrapped key was altered.`,
      { cause: lastError },
    );
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
      if (plaintext.length > 0) this.push(plaintext);
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
      this.push(rest);
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

/**
 * Decrypts the file at `inPath` into `outPath`. The plaintext goes to a temporary file in the
 * same directory, which is renamed to `outPath` only after the tag verified and deleted otherwise,
 * so `outPath` never holds unauthenticated data.
 */
export async function decryptFile(
  inPath: string,
  outPath: string,
  unwrapper: SessionKeyUnwrapper,
  options: DecryptOptions = {},
): Promise<DecryptResult> {
  return writeAtomically(outPath, async (out) => {
    const decryptor = createDecryptStream(unwrapper, options);
    await pipeline(createReadStream(inPath, { highWaterMark: READ_CHUNK_SIZE }), decryptor, out);
    return decryptor.completed;
  });
}
