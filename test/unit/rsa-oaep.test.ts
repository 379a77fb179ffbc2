import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { unwrapOaepSha256 } from '../../shared/pki/rsa-oaep';
import { PrivateKeyUnwrapper } from '../../shared/recording';
import { makePair, rsaKey } from '../helpers/pki';

function wrapFor(pem: string, sessionKey: Buffer): Buffer {
  return publicEncrypt(
    { key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    sessionKey,
  );
}

describe('unwrapOaepSha256', () => {
  it('unwraps what RSAES-OAEP SHA-256 wrapped, as privateDecrypt would', async () => {
    const pair = makePair();
    const sessionKey = randomBytes(32);

    const unwrapped = await unwrapOaepSha256(pair.key, wrapFor(pair.certPem, sessionKey));

    expect(unwrapped.equals(sessionKey)).toBe(true);
  });

  it('rejects a key wrapped for another key or with SHA-1 OAEP', async () => {
    const pair = makePair();
    const other = makePair({ key: rsaKey('other') });
    const sha1 = publicEncrypt(
      { key: pair.certPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      randomBytes(32),
    );

    await expect(unwrapOaepSha256(pair.key, wrapFor(other.certPem, randomBytes(32)))).rejects.toThrow();
    await expect(unwrapOaepSha256(pair.key, sha1)).rejects.toThrow();
  });

  it('serves PrivateKeyUnwrapper: NO_MATCHING_KEY for a key it cannot open', async () => {
    const pair = makePair();
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: pair.keyPem });
    const sessionKey = randomBytes(32);
    const recipient = { issuerDer: Buffer.alloc(0), serialHex: '01' };

    expect((await unwrapper.unwrap(recipient, wrapFor(pair.certPem, sessionKey))).equals(sessionKey)).toBe(
      true,
    );
    await expect(unwrapper.unwrap(recipient, randomBytes(256))).rejects.toMatchObject({
      code: 'NO_MATCHING_KEY',
    });
  });
});
