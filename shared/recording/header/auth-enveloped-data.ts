/**
 * The header of a recording: everything of the ContentInfo before the encrypted content, read
 * from a buffer that may still be incomplete (the bytes arrive in chunks; BER, so lengths may be
 * indefinite). The recipients are counted as they arrive, so a message with thousands of them is
 * refused once the limit's worth is in, before the rest is read or any RSA work is done.
 *
 * ```asn1
 * ContentInfo ::= SEQUENCE {
 *   contentType  ContentType,           -- id-ct-authEnvelopedData
 *   content      [0] EXPLICIT ANY DEFINED BY contentType }
 *
 * AuthEnvelopedData ::= SEQUENCE {       -- RFC 5083
 *   version                CMSVersion,    -- 0
 *   originatorInfo         [0] IMPLICIT OriginatorInfo OPTIONAL,
 *   recipientInfos         RecipientInfos,
 *   authEncryptedContentInfo EncryptedContentInfo,
 *   authAttrs              [1] IMPLICIT AuthAttributes OPTIONAL,
 *   mac                    MessageAuthenticationCode,
 *   unauthAttrs            [2] IMPLICIT UnauthAttributes OPTIONAL }
 *
 * RecipientInfos ::= SET SIZE (1..MAX) OF RecipientInfo
 *
 * EncryptedContentInfo ::= SEQUENCE {
 *   contentType                 ContentType,   -- id-data only
 *   contentEncryptionAlgorithm  ContentEncryptionAlgorithmIdentifier,
 *   encryptedContent            [0] IMPLICIT EncryptedContent OPTIONAL }
 * ```
 *
 * The parser stops at the first byte of `encryptedContent`'s value; what follows (the content,
 * the mac, the closing of the open containers) is the decrypting stream's.
 */
import { decodeOid, parseDer, TAG } from '../../pki/der';
import { BerError, type BerHeader, berElementEnd, readBerHeader } from '../ber';
import { CMS_OID, ENCODED_OID } from '../cms';
import { describeOid, MAX_RECIPIENTS, notCms, tooManyRecipients } from './errors';
import { type GcmAlgorithm, parseGcmAlgorithm } from './gcm-parameters';
import { type KeyTransRecipient, parseRecipientInfo } from './recipient-info';

/** Nesting of skipped header elements (originatorInfo, unauthenticated attributes). */
export const MAX_SKIP_DEPTH = 16;

/** An open container: where it ends (undefined: indefinite length) and its name, for messages. */
export interface Frame {
  end: number | undefined;
  name: string;
}

/** Everything before the encrypted content. */
export interface RecordingHeader extends GcmAlgorithm {
  /** Absolute offset of the first content byte (after the [0] encryptedContent header). */
  contentStart: number;
  /** Open containers: ContentInfo, [0], AuthEnvelopedData, EncryptedContentInfo. */
  frames: Frame[];
  /** The [0] encryptedContent: primitive with a length, or constructed (a frame). */
  content: { primitive: true; length: number } | { primitive: false; frame: Frame };
  /** The key transport recipients, in the message's order. */
  recipients: KeyTransRecipient[];
  /** The other recipients, each as a phrase for the error message. */
  otherRecipientKinds: string[];
  /** Dotted OID of the encrypted content type (id-data: the only one accepted). */
  contentType: string;
  /** Where the parts a header rewrite (rewrap) replaces lie in the input. */
  layout: HeaderLayout;
}

/** Offsets of the containers around the recipients, for rewriting the recipients alone. */
export interface HeaderLayout {
  /** ContentInfo, [0] content and AuthEnvelopedData: where each header starts, and its size. */
  outer: { start: number; headerLength: number; end: number | undefined }[];
  /** The recipientInfos SET, from its tag to just past its end (end-of-contents included). */
  recipientInfosStart: number;
  recipientInfosEnd: number;
  /** Each RecipientInfo's whole encoding, in the message's order. */
  recipientInfoRaws: Buffer[];
}

/** Thrown by the parser when more bytes are needed; `need` is a lower bound of the total. */
export class NeedMore {
  constructor(readonly need: number) {}
}

/** What the parser saw before it stopped, for the message when the input ends too early. */
export interface HeaderMarks {
  contentTypeSeen: boolean;
}

/**
 * Parses the header at the start of `buf`. Throws `NeedMore` while `buf` is too short,
 * `ValidationError` (NOT_CMS, TOO_MANY_RECIPIENTS) when the input is not an AuthEnvelopedData we
 * can open, and `BerError`/`DerError` when it is malformed.
 */
export function parseRecordingHeader(buf: Buffer, marks: HeaderMarks): RecordingHeader {
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
  const outer: HeaderLayout['outer'] = [];
  const open = (tag: number, name: string): Frame => {
    const h = header(name);
    if (h.tag !== tag) throw new BerError(`expected ${name}`, pos);
    if (outer.length < 3 && frames.length === outer.length) {
      outer.push({
        start: pos,
        headerLength: h.headerLength,
        end: h.length === undefined ? undefined : pos + h.headerLength + h.length,
      });
    }
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

  // ContentInfo
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

  // AuthEnvelopedData
  open(0xa0, '[0] content');
  open(0x30, 'AuthEnvelopedData');
  const version = element('version');
  if (!version.raw.equals(Buffer.from([2, 1, 0])))
    throw notCms('Only AuthEnvelopedData version 0 is supported.');
  if (buf[pos] === undefined) throw new NeedMore(pos + 1);
  if (buf[pos] === 0xa0) element('originatorInfo');

  // RecipientInfos
  const recipientInfosStart = pos;
  const infos = open(0x31, 'recipientInfos');
  const recipientInfoRaws: Buffer[] = [];
  const recipients: KeyTransRecipient[] = [];
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
    recipientInfoRaws.push(Buffer.from(info.raw));
    const parsed = parseRecipientInfo(info.tag, info.raw);
    if (typeof parsed === 'string') otherRecipientKinds.push(parsed);
    else recipients.push(parsed);
  }
  frames.pop();
  const recipientInfosEnd = pos;

  // EncryptedContentInfo
  open(0x30, 'EncryptedContentInfo');
  const innerType = element('content type');
  if (innerType.tag !== TAG.OID) throw new BerError('expected the encrypted content type', pos);
  // The content type is outside the GCM authentication (no authAttrs): only accept the one
  // recordings use, so that it cannot be swapped unnoticed.
  if (!innerType.raw.equals(ENCODED_OID.data)) {
    throw notCms('The encrypted content is not of type id-data; recordings are plain data.');
  }
  const algorithm = element('contentEncryptionAlgorithm');
  const gcm = parseGcmAlgorithm(parseDer(Buffer.from(algorithm.raw)));

  // [0] IMPLICIT encryptedContent: primitive, or constructed from OCTET STRING pieces
  const contentHeader = header('encryptedContent');
  let content: RecordingHeader['content'];
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
    ...gcm,
    contentType: CMS_OID.data,
    layout: { outer, recipientInfosStart, recipientInfosEnd, recipientInfoRaws },
  };
}
