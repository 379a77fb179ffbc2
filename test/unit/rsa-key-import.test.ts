import {
  constants,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import fc from 'fast-check';
import { der } from '../../shared/pki/der';
import { importPrivateKeyDer } from '../../shared/pki/rsa-key-import';
import { rsaKey } from '../helpers/pki';

type KeyType = 'pkcs8' | 'pkcs1';

/** What node's own decoder makes of the bytes: the PKCS#8 it re-exports, or that it refused. */
function decoderOutcome(keyDer: Buffer, type: KeyType): string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyDer, format: 'der', type });
  } catch {
    return 'refused';
  }
  return key.export({ format: 'der', type: 'pkcs8' }).toString('hex');
}

function fastOutcome(keyDer: Buffer, type: KeyType): string {
  let key: KeyObject;
  try {
    key = importPrivateKeyDer(keyDer, type);
  } catch {
    return 'refused';
  }
  return key.export({ format: 'der', type: 'pkcs8' }).toString('hex');
}

describe('importPrivateKeyDer', () => {
  const key = rsaKey();
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const pkcs1 = key.export({ format: 'der', type: 'pkcs1' });

  it.each([
    ['pkcs8', pkcs8],
    ['pkcs1', pkcs1],
  ] as const)('imports a %s RSA key to the same key the decoder makes', (type, keyDer) => {
    const imported = importPrivateKeyDer(keyDer, type);

    expect(imported.asymmetricKeyType).toBe('rsa');
    expect(imported.export({ format: 'der', type })).toEqual(keyDer);
  });

  it('imports a key that decrypts what its public key encrypted', () => {
    const imported = importPrivateKeyDer(pkcs8, 'pkcs8');
    const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };

    const wrapped = publicEncrypt({ key, ...oaep }, Buffer.from('session key'));

    expect(privateDecrypt({ key: imported, ...oaep }, wrapped).toString()).toBe('session key');
  });

  it('hands keys of other algorithms to the decoder unchanged', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'der',
      type: 'pkcs8',
    });

    expect(importPrivateKeyDer(ec, 'pkcs8').asymmetricKeyType).toBe('ec');
  });

  it('accepts a non-canonical encoding only as the decoder does (long-form length)', () => {
    // The same PKCS#1 key with its outer SEQUENCE length in a needlessly long form.
    const inner = pkcs1.subarray(4);
    const longForm = Buffer.concat([Buffer.from([0x30, 0x84]), Buffer.alloc(4), inner]);
    longForm.writeUInt32BE(inner.length, 2);

    expect(fastOutcome(longForm, 'pkcs1')).toBe(decoderOutcome(longForm, 'pkcs1'));
  });

  it('gives the decoder’s outcome for a truncated key, trailing bytes and a negative modulus', () => {
    const negativeModulus = der.sequence(
      der.integer(0),
      Buffer.from([0x02, 0x01, 0x80]),
      der.integer(65537),
      ...Array.from({ length: 6 }, () => der.integer(3)),
    );
    const cases = [
      [pkcs8.subarray(0, pkcs8.length - 1), 'pkcs8'],
      [Buffer.concat([pkcs8, Buffer.from([0])]), 'pkcs8'],
      [negativeModulus, 'pkcs1'],
    ] as const;

    const outcomes = cases.map(([bytes, type]) => fastOutcome(bytes, type));

    expect(outcomes).toEqual(cases.map(([bytes, type]) => decoderOutcome(bytes, type)));
    expect(outcomes[0]).toBe('refused');
  });

  it('gives the decoder’s outcome for every mutation of a valid key (bit flips, cuts, inserted bytes)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), bit: fc.constant(0) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bit: fc.integer({ min: 0, max: 255 }),
      }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom<KeyType>('pkcs8', 'pkcs1'),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (type, steps) => {
          let bytes = Buffer.from(type === 'pkcs8' ? pkcs8 : pkcs1);
          for (const step of steps) {
            const at = step.at % bytes.length;
            if (step.kind === 'flip') bytes[at]! ^= 1 << step.bit;
            else if (step.kind === 'cut') bytes = bytes.subarray(0, at);
            else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([step.bit]), bytes.subarray(at)]);
            if (bytes.length === 0) return;
          }
          expect(fastOutcome(bytes, type)).toBe(decoderOutcome(bytes, type));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
