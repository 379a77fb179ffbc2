/**
 * Fuzzing helpers of the reliability project: a structure-aware ASN.1 mutator (it edits the
 * decoded tree, so mutations such as a huge modulus, a wrong OID or deep nesting still produce
 * well-formed DER that reaches the semantic checks), byte-level damage on top of it (bit flips,
 * truncation, length-field lies), PEM text mutations (line endings, whitespace, labels, stray
 * characters), the outcome checker that bounds each input's time, and the figures writer whose
 * JSON (test-artifacts/reliability/fuzz.json) the README quotes.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { AppError, ERROR_CODES } from '../../shared/errors';

const ROOT = resolve(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// Seed and budget

/** One seed per run, printed and written to the figures so a failure can be replayed. */
export const FUZZ_SEED: number = process.env.RECCERT_FUZZ_SEED
  ? Number(process.env.RECCERT_FUZZ_SEED)
  : Date.now() % 2 ** 31;

/**
 * Scales every property's numRuns (RECCERT_FUZZ_SCALE=10 for a soak, 0.1 for a smoke run). The
 * default of 1 gives the 100,000+ cases the issue asks for within the CI budget.
 */
export const FUZZ_SCALE: number = Number(process.env.RECCERT_FUZZ_SCALE ?? '1') || 1;

export function runs(n: number): number {
  return Math.max(1, Math.round(n * FUZZ_SCALE));
}

/** A synchronous parse of one input may take at most this long (a hang or blow-up fails it). */
export const SYNC_BOUND_MS = 3_000;
/** A streamed decryption of one (small) input may take at most this long. */
export const ASYNC_BOUND_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// ASN.1 tree

/**
 * A decoded TLV. Primitive nodes carry `value`; constructed ones `children`. A BIT STRING or
 * OCTET STRING that wraps exactly one DER element (an SPKI's RSAPublicKey, an extension's value,
 * PKCS#8's PKCS#1 body) is decoded as `encapsulated`, so mutations reach inside it too.
 */
export interface Asn1 {
  tag: number;
  value?: Buffer;
  children?: Asn1[];
  /** Bytes before the encapsulated element (the unused-bits byte of a BIT STRING). */
  prefix?: Buffer;
}

function readHeader(buf: Buffer, pos: number): { tag: number; start: number; end: number } {
  if (pos + 2 > buf.length) throw new Error('truncated');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte tag');
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new Error('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new Error('overrun');
  return { tag, start, end: start + len };
}

function decodeList(buf: Buffer): Asn1[] {
  const out: Asn1[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const h = readHeader(buf, pos);
    out.push(decodeNode(h.tag, buf.subarray(h.start, h.end)));
    pos = h.end;
  }
  return out;
}

function decodeNode(tag: number, value: Buffer): Asn1 {
  if (tag & 0x20) return { tag, children: decodeList(value) };
  if ((tag === 0x03 && value[0] === 0 && value.length > 2) || (tag === 0x04 && value.length > 1)) {
    const prefix = tag === 0x03 ? value.subarray(0, 1) : Buffer.alloc(0);
    const body = value.subarray(prefix.length);
    if ([0x30, 0x03, 0x04, 0x02].includes(body[0]!)) {
      try {
        const inner = decodeList(body);
        if (inner.length === 1) return { tag, prefix: Buffer.from(prefix), children: inner };
      } catch {
        // not an encapsulated element: keep the bytes
      }
    }
  }
  return { tag, value: Buffer.from(value) };
}

/** Decodes a well-formed DER seed (test-made certificates, keys, CMS) into a tree. */
export function decodeTree(der: Buffer): Asn1 {
  const list = decodeList(der);
  if (list.length !== 1) throw new Error('a seed must be exactly one DER element');
  return list[0]!;
}

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Re-encodes a tree with correct lengths (iterative over children, so deep nesting is fine). */
export function encodeTree(node: Asn1): Buffer {
  let value: Buffer;
  if (node.children) {
    const parts = node.children.map(encodeTree);
    value = Buffer.concat(node.prefix ? [node.prefix, ...parts] : parts);
  } else {
    value = node.value ?? Buffer.alloc(0);
  }
  return Buffer.concat([Buffer.from([node.tag]), encodeLength(value.length), value]);
}

function cloneTree(node: Asn1): Asn1 {
  return {
    tag: node.tag,
    ...(node.value ? { value: node.value } : {}),
    ...(node.prefix ? { prefix: node.prefix } : {}),
    ...(node.children ? { children: node.children.map(cloneTree) } : {}),
  };
}

/** Every node with its parent, preorder. */
function nodesOf(root: Asn1): { node: Asn1; parent: Asn1 | undefined }[] {
  const out: { node: Asn1; parent: Asn1 | undefined }[] = [];
  const stack: { node: Asn1; parent: Asn1 | undefined }[] = [{ node: root, parent: undefined }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    out.push(item);
    const kids = item.node.children ?? [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]!, parent: item.node });
  }
  return out;
}

/** Offsets of every TLV header in `buf` that a lenient walk can find (for length-field lies). */
export function headerOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  const walk = (from: number, to: number, depth: number) => {
    let pos = from;
    while (pos < to && depth < 64 && out.length < 4096) {
      let h: { tag: number; start: number; end: number };
      try {
        h = readHeader(buf, pos);
      } catch {
        return;
      }
      if (h.end > to) return;
      out.push(pos);
      if (h.tag & 0x20) walk(h.start, h.end, depth + 1);
      pos = h.end;
    }
  };
  walk(0, buf.length, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** OIDs a hostile or confused file may carry where another one belongs. */
const OID_CHOICES = [
  '1.2.840.113549.1.1.1', // rsaEncryption
  '1.2.840.113549.1.1.10', // RSASSA-PSS
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.4', // md5WithRSAEncryption
  '1.2.840.113549.1.1.7', // RSAES-OAEP
  '1.2.840.10045.2.1', // ecPublicKey
  '1.2.840.10040.4.1', // DSA
  '1.3.101.112', // Ed25519
  '1.3.101.110', // X25519
  '2.5.29.15', // keyUsage
  '2.5.29.19', // basicConstraints
  '2.5.4.3', // CN
  '2.5.4.6', // C
  '1.2.840.113549.1.9.16.1.23', // id-ct-authEnvelopedData
  '1.2.840.113549.1.7.3', // envelopedData
  '1.2.840.113549.1.7.1', // data
  '2.16.840.1.101.3.4.1.46', // aes256-GCM
  '2.16.840.1.101.3.4.1.42', // aes256-CBC
  '1.2.840.113549.1.5.13', // PBES2
  '1.2.840.113549.1.5.12', // PBKDF2
  '1.3.6.1.4.1.11591.4.11', // scrypt
  '2.999.18446744073709551615.1', // an arc above 2^64
];

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [];
  const [a, b, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  for (let arc of [a * 40n + b, ...rest]) {
    const chunk = [Number(arc & 0x7fn)];
    arc >>= 7n;
    while (arc > 0n) {
      chunk.unshift(Number(arc & 0x7fn) | 0x80);
      arc >>= 7n;
    }
    out.push(...chunk);
  }
  return Buffer.from(out);
}

const ENCODED_OIDS = OID_CHOICES.map(encodeOid);
const STRING_TAGS = [0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e, 0x12, 0x19, 0x04, 0x03];
const TIME_TEXTS = [
  '991231235959Z',
  '000229000000Z',
  '010229000000Z',
  '491231235960Z',
  '500101000000Z',
  '2501011200Z',
  '250101120000+0100',
  '20501231235959Z',
  '99991231235959Z',
  '00000101000000Z',
  '20250101120000.123456789Z',
  '20251301000000Z',
  '2025010112000',
  '',
  '\u0000\u0000\u0000',
  '٢٠٢٥٠١٠١١٢٠٠٠٠Z',
];

/** One edit of the decoded tree; numbers pick the target modulo what exists. */
export type TreeOp =
  | { kind: 'oid'; at: number; choice: number; raw: Uint8Array | null }
  | { kind: 'int'; at: number; size: number; lead: number }
  | { kind: 'nest'; at: number; depth: number; tag: number }
  | { kind: 'tag'; at: number; tag: number }
  | { kind: 'drop'; at: number }
  | { kind: 'dup'; at: number; times: number }
  | { kind: 'value'; at: number; bytes: Uint8Array }
  | { kind: 'string'; at: number; tag: number; bytes: Uint8Array }
  | { kind: 'time'; at: number; choice: number }
  | { kind: 'swap'; a: number; b: number };

/** One byte-level damage of the encoding. */
export type ByteOp =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'length'; at: number; variant: number; byte: number }
  | { kind: 'append'; bytes: Uint8Array };

export const treeOpArb: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({
    kind: fc.constant('oid' as const),
    at: fc.nat(),
    choice: fc.nat(),
    raw: fc.option(fc.uint8Array({ minLength: 0, maxLength: 12 }), { freq: 4 }),
  }),
  fc.record({
    kind: fc.constant('int' as const),
    at: fc.nat(),
    size: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 200, max: 1100 }), fc.constant(4096)),
    lead: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('nest' as const),
    at: fc.nat(),
    // Far beyond every parser's limit (32), yet shallow enough for this helper's own recursion.
    depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 100, max: 600 })),
    tag: fc.constantFrom(0x30, 0x31, 0xa0, 0x24),
  }),
  fc.record({ kind: fc.constant('tag' as const), at: fc.nat(), tag: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), times: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant('value' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('string' as const),
    at: fc.nat(),
    tag: fc.constantFrom(...STRING_TAGS),
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
    ),
  }),
  fc.record({ kind: fc.constant('time' as const), at: fc.nat(), choice: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
);

export const byteOpArb: fc.Arbitrary<ByteOp> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    weight: 4,
  },
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  {
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      at: fc.nat(),
      variant: fc.integer({ min: 0, max: 7 }),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    weight: 3,
  },
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

/** A mutation plan: which seed, what to edit in its tree, then what to damage in its bytes. */
export interface DerPlan {
  seed: number;
  tree: TreeOp[];
  bytes: ByteOp[];
}

export const derPlanArb: fc.Arbitrary<DerPlan> = fc.record({
  seed: fc.nat(),
  tree: fc.array(treeOpArb, { maxLength: 3 }),
  bytes: fc.oneof(fc.constant([] as ByteOp[]), fc.array(byteOpArb, { minLength: 1, maxLength: 4 })),
});

function applyTreeOp(root: Asn1, op: TreeOp): void {
  const all = nodesOf(root);
  const pick = <T>(list: T[], n: number): T | undefined => (list.length ? list[n % list.length] : undefined);
  switch (op.kind) {
    case 'oid': {
      const target = pick(
        all.filter((x) => x.node.tag === 0x06),
        op.at,
      );
      if (target)
        target.node.value = op.raw ? Buffer.from(op.raw) : ENCODED_OIDS[op.choice % ENCODED_OIDS.length]!;
      return;
    }
    case 'int': {
      const target = pick(
        all.filter((x) => x.node.tag === 0x02),
        op.at,
      );
      if (!target) return;
      const value = Buffer.alloc(op.size, 0xa5 ^ op.lead);
      if (op.size > 0) value[0] = op.lead;
      target.node.value = value;
      delete target.node.children;
      return;
    }
    case 'nest': {
      const target = pick(all, op.at);
      if (!target) return;
      let inner: Asn1 = cloneTree(target.node);
      for (let i = 0; i < op.depth; i++) inner = { tag: op.tag, children: [inner] };
      Object.assign(target.node, inner);
      if (!inner.value) delete target.node.value;
      delete target.node.prefix;
      return;
    }
    case 'tag': {
      const target = pick(all, op.at);
      if (target) target.node.tag = op.tag === 0x1f ? 0x1e : op.tag;
      return;
    }
    case 'drop': {
      const target = pick(
        all.filter((x) => x.parent),
        op.at,
      );
      if (target?.parent?.children)
        target.parent.children = target.parent.children.filter((c) => c !== target.node);
      return;
    }
    case 'dup': {
      const target = pick(
        all.filter((x) => x.parent),
        op.at,
      );
      const kids = target?.parent?.children;
      if (!target || !kids) return;
      const i = kids.indexOf(target.node);
      kids.splice(i, 0, ...Array.from({ length: op.times }, () => cloneTree(target.node)));
      return;
    }
    case 'value': {
      const target = pick(
        all.filter((x) => !x.node.children),
        op.at,
      );
      if (target) target.node.value = Buffer.from(op.bytes);
      return;
    }
    case 'string': {
      const target = pick(
        all.filter((x) => STRING_TAGS.includes(x.node.tag) && !x.node.children),
        op.at,
      );
      if (!target) return;
      target.node.tag = op.tag;
      target.node.value = Buffer.from(op.bytes);
      return;
    }
    case 'time': {
      const target = pick(
        all.filter((x) => x.node.tag === 0x17 || x.node.tag === 0x18),
        op.at,
      );
      if (target) target.node.value = Buffer.from(TIME_TEXTS[op.choice % TIME_TEXTS.length]!, 'utf8');
      return;
    }
    case 'swap': {
      const a = pick(all, op.a);
      const b = pick(all, op.b);
      if (!a || !b || a === b) return;
      // Swap contents, not positions, so neither can end up inside itself.
      const copyA = cloneTree(a.node);
      const copyB = cloneTree(b.node);
      for (const k of ['value', 'children', 'prefix'] as const) {
        delete a.node[k];
        delete b.node[k];
      }
      Object.assign(a.node, copyB);
      Object.assign(b.node, copyA);
      return;
    }
  }
}

function applyByteOp(buf: Buffer, op: ByteOp): Buffer {
  if (buf.length === 0) return op.kind === 'insert' || op.kind === 'append' ? Buffer.from(op.bytes) : buf;
  const at = (n: number) => n % buf.length;
  switch (op.kind) {
    case 'flip': {
      const out = Buffer.from(buf);
      out[at(op.at)]! ^= 1 << op.bit;
      return out;
    }
    case 'set': {
      const out = Buffer.from(buf);
      out[at(op.at)] = op.byte;
      return out;
    }
    case 'truncate':
      return buf.subarray(0, at(op.at));
    case 'insert': {
      const i = at(op.at);
      return Buffer.concat([buf.subarray(0, i), Buffer.from(op.bytes), buf.subarray(i)]);
    }
    case 'delete': {
      const i = at(op.at);
      return Buffer.concat([buf.subarray(0, i), buf.subarray(i + op.count)]);
    }
    case 'append':
      return Buffer.concat([buf, Buffer.from(op.bytes)]);
    case 'length': {
      const headers = headerOffsets(buf);
      const h = headers.length ? headers[op.at % headers.length]! : 0;
      if (h + 1 >= buf.length) return buf;
      const first = buf[h + 1]!;
      const fieldSize = first & 0x80 ? 1 + (first & 0x7f) : 1;
      let current = first;
      if (first & 0x80) {
        current = 0;
        for (let i = 0; i < (first & 0x7f) && h + 2 + i < buf.length; i++)
          current = current * 256 + buf[h + 2 + i]!;
      }
      let field: Buffer;
      switch (op.variant) {
        case 0:
          field = encodeLength(current + 1 + (op.byte % 4));
          break;
        case 1:
          field = encodeLength(Math.max(0, current - 1 - (op.byte % 4)));
          break;
        case 2:
          field = Buffer.from([0x80]); // indefinite
          break;
        case 3:
          field = Buffer.from([0x84, 0xff, 0xff, 0xff, 0xff]);
          break;
        case 4:
          field = Buffer.from([0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, op.byte]);
          break;
        case 5:
          field = Buffer.from([
            0x84,
            (current >>> 24) & 0xff,
            (current >>> 16) & 0xff,
            (current >>> 8) & 0xff,
            current & 0xff,
          ]); // non-minimal
          break;
        case 6:
          field = Buffer.from([0x80 | (op.byte & 0x7f)]);
          break;
        default:
          field = Buffer.from([op.byte]);
      }
      return Buffer.concat([buf.subarray(0, h + 1), field, buf.subarray(h + 1 + fieldSize)]);
    }
  }
}

/** Decoded seeds, kept to mutate copies of. */
export class DerSeeds {
  private readonly trees: (Asn1 | undefined)[];
  /** Seeds that are not definite-length DER (BER streams) get byte-level damage only. */
  constructor(readonly ders: Buffer[]) {
    this.trees = ders.map((der) => {
      try {
        return decodeTree(der);
      } catch {
        return undefined;
      }
    });
  }
  /** Applies `plan` to a copy of one seed and returns the damaged encoding. */
  mutate(plan: DerPlan): Buffer {
    const index = plan.seed % this.ders.length;
    let out: Buffer;
    const seedTree = this.trees[index];
    if (plan.tree.length === 0 || !seedTree) {
      out = this.ders[index]!;
    } else {
      const tree = cloneTree(seedTree);
      for (const op of plan.tree) applyTreeOp(tree, op);
      out = encodeTree(tree);
    }
    for (const op of plan.bytes) out = applyByteOp(out, op);
    return out;
  }
  seedIndex(plan: DerPlan): number {
    return plan.seed % this.ders.length;
  }
}

// ---------------------------------------------------------------------------------------------
// PEM text

const LABELS = [
  'CERTIFICATE',
  'X509 CERTIFICATE',
  'TRUSTED CERTIFICATE',
  'CERTIFICATE REQUEST',
  'PRIVATE KEY',
  'RSA PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'EC PRIVATE KEY',
  'PUBLIC KEY',
  'PKCS7',
  'certificate',
  '',
  'A'.repeat(41),
];
const ODD_CHARS = [
  '\t',
  ' ',
  '\r',
  '\n',
  '\u0000',
  '\u00a0',
  '\u2028',
  '\ufeff',
  '=',
  '-',
  '*',
  'é',
  '😀',
  '\\',
  '-----',
];

/** One edit of PEM text. */
export type TextOp =
  | { kind: 'eol'; style: number }
  | { kind: 'rewrap'; width: number }
  | { kind: 'indent'; text: number }
  | { kind: 'label'; which: number; label: number }
  | { kind: 'drop-end' }
  | { kind: 'drop-begin' }
  | { kind: 'char'; at: number; char: number }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'header'; line: number }
  | { kind: 'around'; before: string; after: string }
  | { kind: 'twice' }
  | { kind: 'padding'; variant: number };

export const textOpArb: fc.Arbitrary<TextOp> = fc.oneof(
  fc.record({ kind: fc.constant('eol' as const), style: fc.nat(4) }),
  fc.record({
    kind: fc.constant('rewrap' as const),
    width: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.constant(100_000)),
  }),
  fc.record({ kind: fc.constant('indent' as const), text: fc.nat(4) }),
  fc.record({ kind: fc.constant('label' as const), which: fc.nat(2), label: fc.nat() }),
  fc.record({ kind: fc.constant('drop-end' as const) }),
  fc.record({ kind: fc.constant('drop-begin' as const) }),
  { arbitrary: fc.record({ kind: fc.constant('char' as const), at: fc.nat(), char: fc.nat() }), weight: 3 },
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('header' as const), line: fc.nat(3) }),
  fc.record({
    kind: fc.constant('around' as const),
    before: fc.string({ maxLength: 12 }),
    after: fc.string({ maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('twice' as const) }),
  fc.record({ kind: fc.constant('padding' as const), variant: fc.nat(3) }),
);

/** Applies a PEM text edit. */
export function applyTextOp(text: string, op: TextOp): string {
  const at = (n: number) => (text.length ? n % text.length : 0);
  switch (op.kind) {
    case 'eol':
      return text.replace(/\n/g, ['\r\n', '\r', '', '\n\n', ' \n'][op.style]!);
    case 'rewrap':
      return text.replace(/-----\n([\s\S]*?)\n-----/g, (_m, body: string) => {
        const flat = body.replace(/\s+/g, '');
        const lines = flat.match(new RegExp(`.{1,${op.width}}`, 'g')) ?? [];
        return `-----\n${lines.join('\n')}\n-----`;
      });
    case 'indent': {
      const pad = ['  ', '\t', ' \t ', '\u00a0', '\u3000'][op.text]!;
      return text
        .split('\n')
        .map((l) => `${pad}${l}${pad}`)
        .join('\n');
    }
    case 'label': {
      const label = LABELS[op.label % LABELS.length]!;
      if (op.which === 0) return text.replace(/BEGIN [A-Z0-9 ]+-----/, `BEGIN ${label}-----`);
      if (op.which === 1) return text.replace(/END [A-Z0-9 ]+-----/, `END ${label}-----`);
      return text.replace(/(BEGIN|END) [A-Z0-9 ]+-----/g, `$1 ${label}-----`);
    }
    case 'drop-end':
      return text.replace(/-----END [^\n]*/, '');
    case 'drop-begin':
      return text.replace(/-----BEGIN [^\n]*/, '');
    case 'char': {
      const i = at(op.at);
      return text.slice(0, i) + ODD_CHARS[op.char % ODD_CHARS.length]! + text.slice(i);
    }
    case 'delete': {
      const i = at(op.at);
      return text.slice(0, i) + text.slice(i + op.count);
    }
    case 'header': {
      const header = [
        'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n',
        'Comment: hello\n',
        'Proc-Type: 4,ENCRYPTED\n',
        'X: \n',
      ][op.line]!;
      return text.replace(/(-----BEGIN [^\n]*-----\n)/, `$1${header}`);
    }
    case 'around':
      return `${op.before}${text}${op.after}`;
    case 'twice':
      return `${text}${text}`;
    case 'padding':
      return text.replace(
        /\n-----END/,
        ['=\n-----END', '==\n-----END', 'A\n-----END', '===\n-----END'][op.variant]!,
      );
  }
}

export const textOpsArb: fc.Arbitrary<TextOp[]> = fc.array(textOpArb, { minLength: 1, maxLength: 3 });

// ---------------------------------------------------------------------------------------------
// Outcomes

/** What one target saw over a run. */
export interface TargetStats {
  cases: number;
  accepted: number;
  /** Refusals by error code (or error class for the low-level parsers). */
  refused: Record<string, number>;
  maxMs: number;
  totalMs: number;
}

const stats = new Map<string, TargetStats>();
let failedProperties = 0;

/** Counts a failed check outside `assertProperty` (a regression case) for the figures. */
export async function countingFailures(check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (error) {
    failedProperties++;
    throw error;
  }
}

/**
 * `fc.assert` that also counts a failed property for the figures (so fuzz.json never claims zero
 * failures for a run that had some).
 */
export async function assertProperty<Ts extends [unknown, ...unknown[]]>(
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  params: fc.Parameters<Ts>,
): Promise<void> {
  try {
    await fc.assert(property as fc.IAsyncProperty<Ts>, params);
    expectNothingCollected();
  } catch (error) {
    failedProperties++;
    throw error;
  }
}

function statsFor(target: string): TargetStats {
  let s = stats.get(target);
  if (!s) {
    s = { cases: 0, accepted: 0, refused: {}, maxMs: 0, totalMs: 0 };
    stats.set(target, s);
  }
  return s;
}

/** The figures of this test file so far. */
export function allStats(): Record<string, TargetStats> {
  return Object.fromEntries(stats);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);
/** 48+ base64 characters in a row: the shape of key or certificate bytes, never in a message. */
const BASE64_RUN = /[A-Za-z0-9+/]{48,}/;

/**
 * What an error thrown by a target may be: an `AppError` whose code is in `codes`, or (for the
 * low-level parsers, whose documented failure is their own class) an instance of one of `types`.
 */
export interface Allowed {
  codes?: readonly string[];
  types?: readonly (new (...args: never[]) => Error)[];
}

/**
 * RECCERT_FUZZ_COLLECT=1: instead of stopping at the first undocumented outcome (the default, so
 * fast-check can shrink and replay it), record every distinct one and fail once at the end of the
 * test with the whole list: the mode for hunting several bugs in one run.
 */
const COLLECT = process.env.RECCERT_FUZZ_COLLECT === '1';
const collected = new Map<string, { count: number; sample: string }>();

function signature(error: unknown): string {
  const e = error as Error;
  const frame = (e?.stack ?? '').split('\n').find((l) => l.includes('/shared/')) ?? '';
  return `${e?.message?.split('\n')[0]?.slice(0, 160)} @ ${frame.trim()}`;
}

function report(target: string, error: unknown, input: () => string): void {
  if (!COLLECT) throw error;
  const key = `${target}: ${signature(error)}`;
  const entry = collected.get(key);
  if (entry) entry.count++;
  else collected.set(key, { count: 1, sample: input().slice(0, 400) });
}

/** Fails with every distinct undocumented outcome collected so far (collect mode only). */
export function expectNothingCollected(): void {
  if (collected.size === 0) return;
  const lines = [...collected.entries()].map(([k, v]) => `${v.count} x ${k}\n    sample: ${v.sample}`);
  collected.clear();
  throw new Error(`undocumented outcomes:\n${lines.join('\n')}`);
}

function classify(error: unknown, allowed: Allowed): string {
  if (error instanceof AppError) {
    if (!KNOWN_CODES.has(error.code))
      throw new Error(`undocumented error code ${error.code}: ${error.message}`);
    if (!allowed.codes?.includes(error.code)) {
      throw new Error(`error code ${error.code} is not one this parser documents: ${error.message}`);
    }
    const run = BASE64_RUN.exec(error.message)?.[0];
    // Hex (a serial or fingerprint echoed back) is fine; base64 is the shape of PEM bodies.
    if (run && !/^[0-9A-Fa-f]+$/.test(run)) {
      throw new Error(`error message carries encoded bytes: ${error.message}`);
    }
    return error.code;
  }
  for (const type of allowed.types ?? []) {
    // An allowed error may name its own bucket in the figures (e.g. "400 INVALID_PEM").
    if (error instanceof type) return (error as { figureKey?: string }).figureKey ?? type.name;
  }
  const e = error as Error;
  throw new Error(`undocumented exception ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`, { cause: error });
}

/**
 * Runs one synchronous case of `target`: it must return (then `check` validates the result) or
 * throw an allowed error, within SYNC_BOUND_MS. Throws (failing the property) otherwise.
 */
export function runCase<T>(
  target: string,
  allowed: Allowed,
  fn: () => T,
  check?: (result: T) => void,
  describeInput: () => string = () => '',
): void {
  const s = statsFor(target);
  const started = performance.now();
  let result: T | undefined;
  let error: unknown;
  let threw = false;
  try {
    result = fn();
  } catch (e) {
    threw = true;
    error = e;
  }
  const ms = performance.now() - started;
  s.cases++;
  s.totalMs += ms;
  if (ms > s.maxMs) s.maxMs = ms;
  try {
    if (ms > SYNC_BOUND_MS) {
      throw new Error(`${target}: one input took ${ms.toFixed(0)} ms (bound ${SYNC_BOUND_MS} ms)`);
    }
    if (threw) {
      const code = classify(error, allowed);
      s.refused[code] = (s.refused[code] ?? 0) + 1;
      return;
    }
    s.accepted++;
    check?.(result as T);
  } catch (failure) {
    report(target, failure, describeInput);
  }
}

/** The asynchronous twin of `runCase`, bounded by ASYNC_BOUND_MS (a hang fails instead of stalling). */
export async function runAsyncCase<T>(
  target: string,
  allowed: Allowed,
  fn: () => Promise<T>,
  check?: (result: T) => void,
  describeInput: () => string = () => '',
): Promise<void> {
  const s = statsFor(target);
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HangError(`${target}: one input did not settle within ${ASYNC_BOUND_MS} ms`)),
      ASYNC_BOUND_MS,
    );
  });
  let result: T | undefined;
  let error: unknown;
  let threw = false;
  try {
    result = await Promise.race([fn(), timeout]);
  } catch (e) {
    threw = true;
    error = e;
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - started;
  s.cases++;
  s.totalMs += ms;
  if (ms > s.maxMs) s.maxMs = ms;
  try {
    if (error instanceof HangError) throw error;
    if (threw) {
      const code = classify(error, allowed);
      s.refused[code] = (s.refused[code] ?? 0) + 1;
      return;
    }
    s.accepted++;
    check?.(result as T);
  } catch (failure) {
    report(target, failure, describeInput);
  }
}

class HangError extends Error {}

// ---------------------------------------------------------------------------------------------
// Figures

const ARTIFACT_DIR = join(ROOT, 'test-artifacts', 'reliability');

/**
 * Writes this file's figures to test-artifacts/reliability/fuzz/<part>.json and re-derives
 * fuzz.json (the totals over every part) under a directory lock, since jest may run the fuzz
 * files in parallel workers.
 */
export function writeFuzzFigures(part: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const partsDir = join(ARTIFACT_DIR, 'fuzz');
  mkdirSync(partsDir, { recursive: true });
  const targets = allStats();
  const cases = Object.values(targets).reduce((n, t) => n + t.cases, 0);
  const data = {
    part,
    finishedAt: new Date().toISOString(),
    seed: FUZZ_SEED,
    scale: FUZZ_SCALE,
    cases,
    failures: failedProperties,
    targets: Object.fromEntries(
      Object.entries(targets).map(([name, t]) => [
        name,
        { ...t, maxMs: Math.round(t.maxMs * 10) / 10, totalMs: Math.round(t.totalMs) },
      ]),
    ),
    ...extra,
  };
  writeAtomically(join(partsDir, `${part}.json`), data);

  const lock = join(ARTIFACT_DIR, '.fuzz.lock');
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) break; // a stale lock: write anyway, the parts stay authoritative
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    const parts = readdirSync(partsDir)
      .filter((f) => f.endsWith('.json'))
      .map(
        (f) =>
          JSON.parse(readFileSync(join(partsDir, f), 'utf8')) as {
            part: string;
            cases: number;
            failures: number;
            finishedAt: string;
            seed: number;
          },
      );
    writeAtomically(join(ARTIFACT_DIR, 'fuzz.json'), {
      name: 'fuzz',
      finishedAt: new Date().toISOString(),
      totalCases: parts.reduce((n, p) => n + p.cases, 0),
      failures: parts.reduce((n, p) => n + p.failures, 0),
      parts: Object.fromEntries(
        parts.map((p) => [
          p.part,
          { cases: p.cases, failures: p.failures, seed: p.seed, finishedAt: p.finishedAt },
        ]),
      ),
    });
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      // already gone
    }
  }
  return data;
}

/** Writes test-artifacts/reliability/<name>.json (git-ignored) for the README's figures. */
export function writeArtifact(name: string, data: Record<string, unknown>): string {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const file = join(ARTIFACT_DIR, `${name}.json`);
  writeAtomically(file, { name, finishedAt: new Date().toISOString(), ...data });
  return file;
}

function writeAtomically(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  renameSync(tmp, file);
}
