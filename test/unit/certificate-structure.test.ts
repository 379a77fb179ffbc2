import { createPublicKey, sign } from 'node:crypto';
import { ValidationError } from '../../shared/errors';
import { buildName } from '../../shared/pki/builder';
import { der } from '../../shared/pki/der';
import { OID } from '../../shared/pki/oids';
import { toPem } from '../../shared/pki/pem';
import { type ValidationOptions, validateUpload } from '../../shared/pki/validate';
import { FIXED_NOW, rsaKey } from '../helpers/pki';

const options: ValidationOptions = { flow: 'aws', now: FIXED_NOW, requirePrivateKey: false };
const SHA256_RSA = der.sequence(der.oid(OID.sha256WithRSAEncryption), der.null());
const SHA384_RSA = der.sequence(der.oid('1.2.840.113549.1.1.12'), der.null());

function keyUsage(bits: number, unused: number): Buffer {
  return der.sequence(
    der.oid(OID.keyUsage),
    der.boolean(true),
    der.octetString(der.bitString(Buffer.from([bits]), unused)),
  );
}
const KU_ENCIPHERMENT = keyUsage(0xa0, 5);
const KU_SIGN_ONLY = keyUsage(0x80, 7);
const BASIC_CONSTRAINTS = der.sequence(der.oid(OID.basicConstraints), der.octetString(der.sequence()));

interface Shape {
  /** 1, 2 or 3; v1 leaves the version field out. */
  version?: number;
  /** The contents of [3]: the Extensions SEQUENCE, or none at all. */
  extensions?: Buffer[] | undefined;
  innerAlgorithm?: Buffer;
  issuerUniqueId?: boolean;
}

/** A self-signed certificate of the given shape, signed (sha256WithRSAEncryption) by a real key. */
function certificate(shape: Shape): string {
  const key = rsaKey();
  const name = buildName([
    ['CN', 'Structure'],
    ['C', 'US'],
  ]);
  const version = shape.version ?? 3;
  const tbs = der.sequence(
    ...(version === 1 ? [] : [der.explicit(0, der.integer(version - 1))]),
    der.integer(42),
    shape.innerAlgorithm ?? SHA256_RSA,
    name,
    der.sequence(der.time(new Date('2026-01-01T00:00:00Z')), der.time(new Date('2036-01-01T00:00:00Z'))),
    name,
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    ...(shape.issuerUniqueId ? [der.implicit(1, Buffer.from([0, 1, 2]))] : []),
    ...(shape.extensions ? [der.explicit(3, der.sequence(...shape.extensions))] : []),
  );
  return toPem('CERTIFICATE', der.sequence(tbs, SHA256_RSA, der.bitString(sign('sha256', tbs, key))));
}

function refusal(pem: string): { code: string; message: string } | undefined {
  try {
    validateUpload({ certificate: pem }, options);
    return undefined;
  } catch (error) {
    if (error instanceof ValidationError) return { code: error.code, message: error.message };
    throw error;
  }
}

describe('certificate structure (RFC 5280)', () => {
  it('regression #15: refuses a certificate with two KeyUsage extensions with INVALID_CERTIFICATE', () => {
    // The second one (signing only) used to win silently; which one a peer honours is anyone's guess.
    const pem = certificate({ extensions: [KU_ENCIPHERMENT, KU_SIGN_ONLY] });

    const result = refusal(pem);

    expect(result?.code).toBe('INVALID_CERTIFICATE');
    expect(result?.message).toContain(`extension ${OID.keyUsage} twice`);
  });

  it.each([
    [
      'two instances of another extension',
      { extensions: [BASIC_CONSTRAINTS, KU_ENCIPHERMENT, BASIC_CONSTRAINTS] },
      /twice/,
    ],
    ['extensions in a v1 certificate', { version: 1, extensions: [KU_ENCIPHERMENT] }, /version 1/],
    ['extensions in a v2 certificate', { version: 2, extensions: [KU_ENCIPHERMENT] }, /version 2/],
    ['an empty extensions SEQUENCE', { extensions: [] }, /empty/],
    ['a unique identifier in a v1 certificate', { version: 1, issuerUniqueId: true }, /unique identifier/],
    [
      'a TBS signature algorithm that differs from the outer one',
      { innerAlgorithm: SHA384_RSA },
      /signature algorithm/,
    ],
  ] as Array<[string, Shape, RegExp]>)(
    'refuses %s with INVALID_CERTIFICATE, naming the problem',
    (_name, shape, says) => {
      const result = refusal(certificate(shape));

      expect(result?.code).toBe('INVALID_CERTIFICATE');
      expect(result?.message).toMatch(says);
    },
  );

  it('accepts well-formed v1 and v3 certificates', () => {
    expect(refusal(certificate({ version: 1 }))).toBeUndefined();
    expect(refusal(certificate({ extensions: [BASIC_CONSTRAINTS, KU_ENCIPHERMENT] }))).toBeUndefined();
    expect(refusal(certificate({}))).toBeUndefined();
  });
});
