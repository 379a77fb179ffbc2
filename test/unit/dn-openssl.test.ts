import { join } from 'node:path';
import fc from 'fast-check';
import { validateUpload } from '../../shared/pki/validate';
import { openssl, opensslSelfSigned, tempDir } from '../helpers/pki';

// Attribute types openssl knows by name, and OIDs it does not (printed as dotted OID=#hex).
const ATTRIBUTE_TYPES = [
  'CN',
  'O',
  'OU',
  'L',
  'ST',
  'emailAddress',
  'DC',
  'UID',
  'serialNumber',
  'title',
  'GN',
  'SN',
  'street',
  'postalCode',
  'name',
  'initials',
  'pseudonym',
  'businessCategory',
  'organizationIdentifier',
  '1.2.3.4',
  '2.5.4.46',
];
// Characters RFC 4514 escapes, spaces, a tab and a control character, and non-ASCII text.
// In openssl's -subj syntax a backslash escapes the next character, so '\\/' is a literal '/'.
const VALUE_PIECES = ['a', 'Z', '0', ' ', ',', '+', '"', '\\\\', '<', '>', ';', '#', '=', '\\/', '.', "'"];
const UNICODE_PIECES = ['ü', '中', '😀', '\u00a0', '\t', '\u0001', '&'];

const attribute = fc.record({
  type: fc.constantFrom(...ATTRIBUTE_TYPES, 'C'),
  pieces: fc.array(fc.constantFrom(...VALUE_PIECES, ...UNICODE_PIECES), { minLength: 1, maxLength: 8 }),
  sameRdn: fc.boolean(),
  country: fc.constantFrom('US', 'DE', 'JP', 'ZZ'),
});

describe('subject DN formatting against the openssl CLI', () => {
  const dir = tempDir();
  const keyPath = join(dir, 'k.pem');
  const certPath = join(dir, 'c.pem');
  openssl(['genrsa', '-out', keyPath, '2048']);

  it('prints random subjects exactly as `openssl x509 -subject -nameopt RFC2253,-esc_msb`', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.array(attribute, { minLength: 1, maxLength: 4 }), (attributes) => {
        const subj = attributes
          .map((a, i) => {
            const value = a.type === 'C' ? a.country : a.pieces.join('');
            return `${a.sameRdn && i > 0 ? '+' : '/'}${a.type}=${value}`;
          })
          .join('');
        try {
          opensslSelfSigned(keyPath, certPath, subj, 30, ['-multivalue-rdn']);
        } catch {
          return; // a subject openssl itself will not write is not a case
        }
        const certificate = openssl(['x509', '-in', certPath]);
        const printed = openssl([
          'x509',
          '-in',
          certPath,
          '-noout',
          '-subject',
          '-nameopt',
          'RFC2253,-esc_msb',
        ]);

        const { details } = validateUpload(
          { certificate },
          { flow: 'aws', now: new Date(), requirePrivateKey: false },
        );

        expect(`subject=${details.subjectDN}\n`).toBe(printed);
        compared++;
      }),
      { numRuns: 60 },
    );
    expect(compared).toBeGreaterThan(30);
  });
});
