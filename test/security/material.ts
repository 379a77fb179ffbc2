/**
 * What the security checks send: encrypted keys past and at the key-derivation limits (made by
 * the openssl CLI in global-setup.ts), certificates with oversized moduli, recordings with many
 * recipients, and the regions of a recording a tamper check flips. All made at test time.
 */
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildCertificate, buildSelfSigned } from '../../shared/pki/builder';
import { definiteHeader, readBerHeader } from '../../shared/recording/ber';
import { encryptRecording } from '../contract/suite';

const run = promisify(execFile);
const DAY = 86_400_000;

/** Where global-setup.ts leaves its files (env of the jest run). */
export const MATERIAL_ENV = 'RECCERT_SECURITY_MATERIAL';
/** The moto endpoint global-setup.ts started for the AWS runtime. */
export const MOTO_ENV = 'RECCERT_SECURITY_MOTO_ENDPOINT';
export const MOTO_PID_ENV = 'RECCERT_SECURITY_MOTO_PID';

/** An encrypted PKCS#8 key of the cost checks (DESIGN section 9: PBKDF2 <= 1e6, scrypt <= 256 MiB, p <= 16). */
export interface KdfKey {
  name: string;
  what: string;
  opensslArgs: string[];
  withinLimits: boolean;
}

const scrypt = (n: number, r: number, p: number) => [
  '-scrypt',
  '-scrypt_N',
  String(n),
  '-scrypt_r',
  String(r),
  '-scrypt_p',
  String(p),
];

export const KDF_KEYS: KdfKey[] = [
  {
    name: 'scrypt-p200',
    what: 'scrypt N=16384 r=8 p=200 (issue #6)',
    opensslArgs: scrypt(16384, 8, 200),
    withinLimits: false,
  },
  {
    name: 'scrypt-p17',
    what: 'scrypt p=17 (just past p <= 16)',
    opensslArgs: scrypt(1024, 8, 17),
    withinLimits: false,
  },
  {
    name: 'scrypt-288mib',
    what: 'scrypt N=16384 r=9 p=16 (288 MiB)',
    opensslArgs: scrypt(16384, 9, 16),
    withinLimits: false,
  },
  {
    name: 'scrypt-limit',
    what: 'scrypt N=16384 r=8 p=16 (256 MiB, at the limit)',
    opensslArgs: scrypt(16384, 8, 16),
    withinLimits: true,
  },
  {
    name: 'pbkdf2-1000001',
    what: 'PBKDF2 1,000,001 iterations (just past)',
    opensslArgs: ['-iter', '1000001'],
    withinLimits: false,
  },
  {
    name: 'pbkdf2-2000000',
    what: 'PBKDF2 2,000,000 iterations (issue #6)',
    opensslArgs: ['-iter', '2000000'],
    withinLimits: false,
  },
  {
    name: 'pbkdf2-limit',
    what: 'PBKDF2 1,000,000 iterations (at the limit)',
    opensslArgs: ['-iter', '1000000'],
    withinLimits: true,
  },
];

/** The certificate and encrypted keys global-setup.ts made (password `pw`). */
export function kdfMaterial(): { certPem: string; keyPem: string; keys: Map<string, string> } {
  const dir = process.env[MATERIAL_ENV];
  if (!dir || !existsSync(join(dir, 'ready')))
    throw new Error(`${MATERIAL_ENV} is not set: run through the security jest project`);
  const keys = new Map<string, string>();
  for (const k of KDF_KEYS) keys.set(k.name, readFileSync(join(dir, `${k.name}.key`), 'utf8'));
  return {
    certPem: readFileSync(join(dir, 'kdf-base.pem'), 'utf8'),
    keyPem: readFileSync(join(dir, 'kdf-base.key'), 'utf8'),
    keys,
  };
}

/** A tenant's key pair made by the openssl CLI, as files too (for `openssl cms`). */
export interface OpensslPair {
  dir: string;
  keyPath: string;
  certPath: string;
  keyPem: string;
  certPem: string;
}

export async function opensslPairAsync(cn: string): Promise<OpensslPair> {
  const dir = mkdtempSync(join(tmpdir(), 'reccert-sec-pair-'));
  const keyPath = join(dir, 'tenant.key');
  const certPath = join(dir, 'tenant.pem');
  await run('openssl', ['genrsa', '-out', keyPath, '2048']);
  await run('openssl', [
    'req',
    '-new',
    '-x509',
    '-key',
    keyPath,
    '-out',
    certPath,
    '-days',
    '365',
    '-subj',
    `/CN=${cn}/O=reccert security tests`,
  ]);
  return {
    dir,
    keyPath,
    certPath,
    keyPem: readFileSync(keyPath, 'utf8'),
    certPem: readFileSync(certPath, 'utf8'),
  };
}

/** `openssl cms -encrypt` (DESIGN section 6), DER or BER streamed. */
export async function opensslRecording(
  pair: OpensslPair,
  plaintext: Buffer,
  stream: boolean,
): Promise<Buffer> {
  const input = join(pair.dir, `plain-${stream}.bin`);
  const output = join(pair.dir, `rec-${stream}.cms`);
  writeFileSync(input, plaintext);
  await run('openssl', [
    'cms',
    '-encrypt',
    '-binary',
    '-aes-256-gcm',
    ...(stream ? ['-stream'] : []),
    '-recip',
    pair.certPath,
    '-keyopt',
    'rsa_padding_mode:oaep',
    '-keyopt',
    'rsa_oaep_md:sha256',
    '-keyopt',
    'rsa_mgf1_md:sha256',
    '-in',
    input,
    '-outform',
    'DER',
    '-out',
    output,
  ]);
  return readFileSync(output);
}

/**
 * A certificate whose public key has a modulus of `bits` bits that nobody holds the key of,
 * signed by a real key (so it is structurally sound): the cheapest way to send a key-size
 * limit's worth of modulus (a real 16384-bit key takes minutes to generate).
 */
export function certificateWithModulus(bits: number): { certPem: string; signer: KeyObject } {
  const signer = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const n = randomBytes(Math.ceil(bits / 8));
  const top = (bits - 1) % 8;
  n[0] = (n[0]! & ((1 << top) - 1)) | (1 << top);
  n[n.length - 1]! |= 1;
  const publicKey = createPublicKey({
    key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' },
    format: 'jwk',
  });
  const now = Date.now();
  const cert = buildCertificate({
    subject: [['CN', `Modulus ${bits}`]],
    publicKey,
    signingKey: signer,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
  });
  return { certPem: cert.pem, signer };
}

/** `count` self-signed certificates of one foreign key (distinct serials): recipients that are not the tenant. */
export function foreignCertificates(count: number): string[] {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const now = Date.now();
  return Array.from(
    { length: count },
    (_, i) =>
      buildSelfSigned(key, {
        subject: [['CN', `Foreign ${i}`]],
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 365 * DAY),
      }).pem,
  );
}

// ---------------------------------------------------------------------------------------------
// DER structure of a recording

/** One TLV of a parsed message; `path` is the child indexes from the root ('r'). */
export interface Node {
  path: string;
  start: number;
  valueStart: number;
  end: number;
}

function walkFrom(buf: Buffer, offset: number, nodePath: string, out: Node[]): number {
  const h = readBerHeader(buf, offset);
  if (!h) throw new Error(`no BER header at ${offset}`);
  const valueStart = offset + h.headerLength;
  let end: number;
  if (!h.constructed) {
    end = valueStart + (h.length ?? 0);
  } else {
    let p = valueStart;
    let i = 0;
    const limit = h.length === undefined ? Number.POSITIVE_INFINITY : valueStart + h.length;
    while (p < limit) {
      if (h.length === undefined && buf[p] === 0 && buf[p + 1] === 0) {
        p += 2;
        break;
      }
      p = walkFrom(buf, p, `${nodePath}.${i++}`, out);
    }
    end = p;
  }
  out.push({ path: nodePath, start: offset, valueStart, end });
  return end;
}

/** Every element of a BER/DER message. */
export function walk(buf: Buffer): Node[] {
  const out: Node[] = [];
  walkFrom(buf, 0, 'r', out);
  return out;
}

export function node(nodes: Node[], nodePath: string): Node {
  const found = nodes.find((n) => n.path === nodePath);
  if (!found) throw new Error(`no node ${nodePath}`);
  return found;
}

/** ContentInfo → [0] → AuthEnvelopedData. */
const AED = 'r.1.0';

/** Regions of a recording a tamper check flips, with the codes a refusal may carry. */
export interface Region {
  name: string;
  offset: number;
  codes: string[];
}

export function tamperRegions(cms: Buffer): Region[] {
  const nodes = walk(cms);
  const mid = (n: Node) => n.valueStart + Math.floor((n.end - n.valueStart) / 2);
  const INTEGRITY = ['INTEGRITY_CHECK_FAILED'];
  return [
    { name: 'header (content type)', offset: node(nodes, 'r.0').end - 1, codes: ['NOT_CMS'] },
    { name: 'recipient (serial)', offset: node(nodes, `${AED}.1.0.1.1`).end - 1, codes: ['NO_MATCHING_KEY'] },
    {
      name: 'recipient (wrapped key)',
      offset: mid(node(nodes, `${AED}.1.0.3`)),
      codes: ['NO_MATCHING_KEY', 'INTEGRITY_CHECK_FAILED'],
    },
    { name: 'IV', offset: mid(node(nodes, `${AED}.2.1.1.0`)), codes: INTEGRITY },
    { name: 'content', offset: mid(node(nodes, `${AED}.2.2`)), codes: INTEGRITY },
    { name: 'tag', offset: mid(node(nodes, `${AED}.3`)), codes: INTEGRITY },
    // DER: the tag's last byte; BER (streamed): the closing end-of-contents octets.
    { name: 'trailer', offset: cms.length - 1, codes: ['NOT_CMS', 'INTEGRITY_CHECK_FAILED'] },
  ];
}

export function flip(buf: Buffer, offset: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset]! ^= 0x01;
  return copy;
}

/**
 * The recording `cms` (definite-length, one recipient) with `count` copies of its recipient, each
 * naming the same certificate but carrying random wrapped-key bytes; `keepReal` keeps the genuine
 * wrapped key in that copy.
 */
export function withRecipients(cms: Buffer, count: number, keepReal?: number): Buffer {
  const nodes = walk(cms);
  const root = node(nodes, 'r');
  const explicit = node(nodes, 'r.1');
  const aed = node(nodes, AED);
  const version = node(nodes, `${AED}.0`);
  const set = node(nodes, `${AED}.1`);
  const ktri = node(nodes, `${AED}.1.0`);
  const wrapped = node(nodes, `${AED}.1.0.3`);
  if (node(nodes, `${AED}.1`).end !== ktri.end)
    throw new Error('withRecipients needs a one-recipient recording');
  const template = cms.subarray(ktri.start, ktri.end);
  const at = wrapped.valueStart - ktri.start;
  const size = wrapped.end - wrapped.valueStart;
  const copies = Array.from({ length: count }, (_, i) => {
    const copy = Buffer.from(template);
    if (i !== keepReal) randomBytes(size).copy(copy, at);
    return copy;
  });
  const setBody = Buffer.concat(copies);
  const aedBody = Buffer.concat([
    cms.subarray(version.start, version.end),
    definiteHeader(0x31, setBody.length),
    setBody,
    cms.subarray(set.end, aed.end),
  ]);
  const aedTlv = Buffer.concat([definiteHeader(0x30, aedBody.length), aedBody]);
  const explicitTlv = Buffer.concat([definiteHeader(0xa0, aedTlv.length), aedTlv]);
  const rootBody = Buffer.concat([cms.subarray(root.valueStart, explicit.start), explicitTlv]);
  return Buffer.concat([definiteHeader(0x30, rootBody.length), rootBody]);
}

/** A recording of `plaintext` for the certificates (the project's encryptor, DER). */
export function recording(plaintext: Buffer, certificatePems: string[]): Promise<Buffer> {
  return encryptRecording(plaintext, certificatePems);
}

/** Deterministic plaintext whose every 64-byte window is distinct (to find any leaked piece). */
export function patternedPlaintext(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let state = Buffer.from(seed);
  for (let off = 0; off < size; off += 32) {
    state = createHash('sha256').update(state).digest();
    state.copy(out, off);
  }
  return out;
}
