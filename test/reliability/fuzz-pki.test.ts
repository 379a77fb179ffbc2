/**
 * The certificate and key parsers under fuzzing (issue 9): valid PEM and DER certificates and keys,
 * mutated structurally (wrong OIDs, huge integers, deep nesting, odd string types and times) and
 * byte-wise (bit flips, truncation, length-field lies), odd PEM text, and random bytes, through
 * every layer: der.ts, pem.ts, certificate.ts, private-key.ts, validate.ts and the preview use
 * case. Every outcome must be a valid result or the documented error of that layer, within a
 * time bound per input.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import type { ValidationError } from '../../shared/errors';
import { UPLOAD_VALIDATION_CODES } from '../../shared/errors';
import { CertificatePreview } from '../../shared/http/schemas';
import { buildCertificate, buildSelfSigned } from '../../shared/pki/builder';
import { parseCertificateDer } from '../../shared/pki/certificate';
import {
  children,
  DerError,
  type DerNode,
  decodeOid,
  integerToBigInt,
  parseDer,
  readTime,
} from '../../shared/pki/der';
import { PemError, parsePemBlocks, toPem } from '../../shared/pki/pem';
import { keyFormatOf, parsePrivateKeyBlock, rsaPublicNumbers } from '../../shared/pki/private-key';
import { type UploadInput, validateUpload } from '../../shared/pki/validate';
import { previewCertificate } from '../../shared/usecases/certificate-upload';
import { testCore } from '../helpers/core';
import { daysFrom, opensslPair } from '../helpers/pki';
import {
  applyTextOp,
  assertProperty,
  countingFailures,
  type DerPlan,
  DerSeeds,
  derPlanArb,
  FUZZ_SEED,
  runAsyncCase,
  runCase,
  runs,
  type TextOp,
  textOpsArb,
  writeFuzzFigures,
} from './fuzz-helpers';

const NOW = new Date('2026-06-01T00:00:00Z');
const PASSWORD = 'fuzz-password';
const KEY_CODES = [
  'INVALID_PRIVATE_KEY',
  'UNSUPPORTED_KEY_ALGORITHM',
  'PKCS8_REQUIRED',
  'PRIVATE_KEY_ENCRYPTED',
  'UNSUPPORTED_KEY_ENCRYPTION',
  'WEAK_PUBLIC_KEY',
  'KEY_TOO_LARGE',
];
const subject = (cn: string): [string, string][] => [
  ['CN', cn],
  ['C', 'US'],
  ['ST', 'California'],
  ['O', 'Genesys'],
];

interface KeySeed {
  label: string;
  der: Buffer;
  password?: string;
}

let rsa: KeyObject;
let certs: DerSeeds;
let keys: DerSeeds;
let keySeeds: KeySeed[];
let certPem: string;
let keyPem: string;

beforeAll(() => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const validity = { notBefore: daysFrom(NOW, -1), notAfter: daysFrom(NOW, 365) };
  const main = buildSelfSigned(rsa, { subject: subject('Fuzz Recording'), ...validity });
  certPem = main.pem;
  keyPem = rsa.export({ type: 'pkcs8', format: 'pem' }).toString();
  const peer = opensslPair('/CN=Fuzz Peer/C=DE/O=Genesys', 30);
  const certDers = [
    main.der,
    buildSelfSigned(rsa, {
      subject: [
        ['CN', 'Zoë Ünïcode 录音'],
        ['C', 'XX'],
        ['O', 'A, B + C'],
      ],
      keyUsage: null,
      standardExtensions: false,
      ...validity,
    }).der,
    buildSelfSigned(rsa, { subject: subject('Sign only'), keyUsage: ['digitalSignature'], ...validity }).der,
    buildCertificate({
      subject: subject('Issued'),
      issuer: subject('Some CA'),
      publicKey: createPublicKey(rsa),
      signingKey: other,
      ...validity,
    }).der,
    buildSelfSigned(small, { subject: subject('Small'), ...validity }).der,
    buildSelfSigned(ec, { subject: subject('EC'), ...validity }).der,
    buildSelfSigned(rsa, {
      subject: subject('Soon'),
      notBefore: daysFrom(NOW, -300),
      notAfter: daysFrom(NOW, 3),
    }).der,
    parsePemBlocks(peer.certPem)[0]!.der,
  ];
  certs = new DerSeeds(certDers);
  keySeeds = [
    { label: 'PRIVATE KEY', der: rsa.export({ type: 'pkcs8', format: 'der' }) },
    { label: 'RSA PRIVATE KEY', der: rsa.export({ type: 'pkcs1', format: 'der' }) },
    {
      label: 'ENCRYPTED PRIVATE KEY',
      der: rsa.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: PASSWORD }),
      password: PASSWORD,
    },
    { label: 'PRIVATE KEY', der: small.export({ type: 'pkcs8', format: 'der' }) },
    { label: 'PRIVATE KEY', der: ec.export({ type: 'pkcs8', format: 'der' }) },
    { label: 'EC PRIVATE KEY', der: ec.export({ type: 'sec1', format: 'der' }) },
  ];
  keys = new DerSeeds(keySeeds.map((k) => k.der));
});

afterAll(() => {
  const figures = writeFuzzFigures('pki');
  process.stdout.write(`fuzz-pki: ${String(figures.cases)} cases, seed ${FUZZ_SEED}\n`);
});

/** Walks every node the way the parsers do, decoding OIDs, times and integers on the way. */
function walkDer(buf: Buffer): number {
  let visited = 0;
  const visit = (node: DerNode, depth: number) => {
    visited++;
    if (node.tag === 0x06) decodeOid(node.value);
    else if (node.tag === 0x17 || node.tag === 0x18) readTime(node);
    else if (node.tag === 0x02) integerToBigInt(node.value);
    if (node.tag & 0x20) for (const c of children(node, depth)) visit(c, depth + 1);
  };
  visit(parseDer(buf), 0);
  return visited;
}

function checkPreview(details: unknown, warnings: unknown): void {
  const parsed = CertificatePreview.safeParse({ ...(details as object), warnings });
  if (!parsed.success)
    throw new Error(`accepted certificate does not fit the schema: ${parsed.error.message}`);
}

const flowArb = fc.constantFrom('aws' as const, 'azure' as const);
const fuzzParams = (numRuns: number) => ({ numRuns: runs(numRuns), seed: FUZZ_SEED, endOnFailure: true });

/** The certificate and key fields of an upload, built from plans and text edits. */
const uploadArb = fc.record({
  cert: fc.oneof(
    fc.record({ kind: fc.constant('der' as const), plan: derPlanArb }),
    fc.record({ kind: fc.constant('text' as const), ops: textOpsArb }),
  ),
  key: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.constant({ kind: 'valid' as const }),
    fc.record({ kind: fc.constant('der' as const), plan: derPlanArb }),
    fc.record({ kind: fc.constant('text' as const), ops: textOpsArb }),
  ),
  password: fc.option(fc.constantFrom(PASSWORD, 'wrong', ''), { nil: undefined }),
  bundle: fc.boolean(),
});

type UploadSpec = {
  cert: { kind: 'der'; plan: DerPlan } | { kind: 'text'; ops: TextOp[] };
  key:
    | { kind: 'none' }
    | { kind: 'valid' }
    | { kind: 'der'; plan: DerPlan }
    | { kind: 'text'; ops: TextOp[] };
  password: string | undefined;
  bundle: boolean;
};

function uploadInput(spec: UploadSpec): UploadInput {
  const certificate =
    spec.cert.kind === 'der'
      ? toPem('CERTIFICATE', certs.mutate(spec.cert.plan))
      : spec.cert.ops.reduce(applyTextOp, certPem);
  let privateKey: string | undefined;
  if (spec.key.kind === 'valid') privateKey = keyPem;
  else if (spec.key.kind === 'der') {
    const seed = keySeeds[keys.seedIndex(spec.key.plan)]!;
    privateKey = toPem(seed.label, keys.mutate(spec.key.plan));
  } else if (spec.key.kind === 'text') privateKey = spec.key.ops.reduce(applyTextOp, keyPem);
  if (spec.bundle && privateKey !== undefined)
    return { certificate: `${certificate}\n${privateKey}`, privateKeyPassword: spec.password };
  return { certificate, privateKey, privateKeyPassword: spec.password };
}

describe('certificate and key parsers under fuzzing', () => {
  it('der.ts: a mutated certificate or key either parses or fails with DerError', async () => {
    await assertProperty(
      fc.property(derPlanArb, fc.boolean(), (plan, fromKey) => {
        const input = fromKey ? keys.mutate(plan) : certs.mutate(plan);
        runCase('der.walk', { types: [DerError] }, () => walkDer(input));
      }),
      fuzzParams(30_000),
    );
  });

  it('pem.ts: mutated PEM text gives blocks or PemError', async () => {
    await assertProperty(
      fc.property(textOpsArb, fc.boolean(), (ops, fromKey) => {
        const text = ops.reduce(applyTextOp, fromKey ? keyPem : certPem);
        runCase(
          'pem.parsePemBlocks',
          { types: [PemError] },
          () => parsePemBlocks(text),
          (blocks) => {
            for (const b of blocks)
              if (!Buffer.isBuffer(b.der) || b.der.length === 0) throw new Error('empty block');
          },
        );
      }),
      fuzzParams(12_000),
    );
  });

  it('certificate.ts: a mutated certificate gives details or DerError', async () => {
    await assertProperty(
      fc.property(derPlanArb, (plan) => {
        const input = certs.mutate(plan);
        runCase(
          'certificate.parseCertificateDer',
          { types: [DerError] },
          () => parseCertificateDer(input),
          (parsed) => checkPreview(parsed.details, []),
        );
      }),
      fuzzParams(20_000),
    );
  });

  it('private-key.ts: a mutated key gives a key or a documented key error', async () => {
    await assertProperty(
      fc.property(
        derPlanArb,
        flowArb,
        fc.option(fc.constantFrom(PASSWORD, 'wrong'), { nil: undefined }),
        fc.nat(9),
        (plan, flow, password, relabel) => {
          const seed = keySeeds[keys.seedIndex(plan)]!;
          const labels = [
            'PRIVATE KEY',
            'RSA PRIVATE KEY',
            'ENCRYPTED PRIVATE KEY',
            'CERTIFICATE',
            'DSA PRIVATE KEY',
          ];
          const label = relabel < labels.length ? labels[relabel]! : seed.label;
          const der = keys.mutate(plan);
          runCase(
            'private-key.parsePrivateKeyBlock',
            { codes: KEY_CODES },
            () =>
              parsePrivateKeyBlock({ label, headers: {}, der }, password ?? seed.password, keyFormatOf(flow)),
            (parsed) => {
              if (parsed.key.type !== 'private' || parsed.key.asymmetricKeyType !== 'rsa')
                throw new Error('not an RSA private key');
            },
          );
        },
      ),
      fuzzParams(8_000),
    );
  });

  it('validate.ts: a mutated upload is accepted with schema-shaped details or refused with an upload code', async () => {
    await assertProperty(
      fc.property(uploadArb, flowArb, fc.boolean(), (spec, flow, requirePrivateKey) => {
        const input = uploadInput(spec);
        runCase(
          'validate.validateUpload',
          { codes: UPLOAD_VALIDATION_CODES },
          () => validateUpload(input, { flow, now: NOW, requirePrivateKey }),
          (result) => {
            checkPreview(result.details, result.warnings);
            if (result.privateKey) {
              const fromKey = rsaPublicNumbers(result.privateKey.key);
              const fromCert = rsaPublicNumbers(result.certificate.publicKey!);
              if (fromKey.n !== fromCert.n)
                throw new Error('accepted a key that does not match the certificate');
            }
          },
        );
      }),
      fuzzParams(15_000),
    );
  });

  it('the preview use case refuses every hostile upload with a documented code', async () => {
    const core = testCore({ now: NOW });
    try {
      await assertProperty(
        fc.asyncProperty(uploadArb, async (spec) => {
          const input = uploadInput(spec);
          await runAsyncCase(
            'usecase.previewCertificate',
            { codes: UPLOAD_VALIDATION_CODES },
            () => previewCertificate(core.deps, input),
            (r) => checkPreview(r, r.warnings),
          );
        }),
        fuzzParams(3_000),
      );
    } finally {
      core.close();
    }
  });

  it('random bytes and text through every layer give only documented errors', async () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 2048 }),
      // Random bytes behind a plausible SEQUENCE header, so the parsers get past the first byte.
      fc
        .uint8Array({ minLength: 2, maxLength: 600 })
        .map((b) => Buffer.concat([Buffer.from([0x30, 0x82, (b.length >> 8) & 0xff, b.length & 0xff]), b])),
    );
    await assertProperty(
      fc.property(bytesArb, fc.string({ maxLength: 300, unit: 'binary' }), flowArb, (raw, text, flow) => {
        const bytes = Buffer.from(raw);
        runCase('random.parseDer', { types: [DerError] }, () => walkDer(bytes));
        runCase('random.parseCertificateDer', { types: [DerError] }, () => parseCertificateDer(bytes));
        runCase('random.parsePrivateKeyBlock', { codes: KEY_CODES }, () =>
          parsePrivateKeyBlock(
            { label: 'PRIVATE KEY', headers: {}, der: bytes },
            undefined,
            keyFormatOf(flow),
          ),
        );
        runCase('random.parsePemBlocks', { types: [PemError] }, () => parsePemBlocks(text));
        runCase('random.validateUpload(text)', { codes: UPLOAD_VALIDATION_CODES }, () =>
          validateUpload(
            { certificate: text, privateKey: text },
            { flow, now: NOW, requirePrivateKey: true },
          ),
        );
        runCase('random.validateUpload(pem)', { codes: UPLOAD_VALIDATION_CODES }, () =>
          validateUpload(
            { certificate: toPem('CERTIFICATE', bytes), privateKey: toPem('PRIVATE KEY', bytes) },
            { flow, now: NOW, requirePrivateKey: false },
          ),
        );
      }),
      fuzzParams(4_000),
    );
  });

  it('regression: a certificate with a 44,000-character subject gives a documented outcome, not a RangeError', async () => {
    // Found by this fuzzing: name.ts spreads the formatted name into Array.push, which overflows
    // the stack for long names (seed-dependent above, so pinned here). 61 KB: within the API limit.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const cert = buildCertificate({
      subject: [['CN', '\u0001'.repeat(44_000)]],
      issuer: [['CN', 'CA']],
      publicKey: createPublicKey(rsa),
      signingKey: other,
      notBefore: daysFrom(NOW, -1),
      notAfter: daysFrom(NOW, 30),
    });
    await countingFailures(async () => {
      runCase('validate.longName', { codes: UPLOAD_VALIDATION_CODES }, () =>
        validateUpload({ certificate: cert.pem }, { flow: 'aws', now: NOW, requirePrivateKey: false }),
      );
    });
  });

  it('the seeds themselves behave as designed (so the fuzzing starts from valid input)', async () => {
    const accepted = validateUpload(
      { certificate: certPem, privateKey: keyPem },
      { flow: 'azure', now: NOW, requirePrivateKey: true },
    );
    expect(accepted.details.keySize).toBe(2048);
    expect(() =>
      validateUpload(
        { certificate: toPem('CERTIFICATE', certs.ders[2]!) },
        { flow: 'aws', now: NOW, requirePrivateKey: false },
      ),
    ).toThrow(expect.objectContaining({ code: 'KEY_USAGE_FORBIDS_ENCRYPTION' }) as ValidationError);
  });
});
