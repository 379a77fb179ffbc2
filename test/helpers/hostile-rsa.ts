/**
 * PLACEHOLDER (wt-sec): the real module is written on the PKI branch with this exact API and
 * replaces this file at merge. It makes one case here so the security project typechecks and
 * runs: a certificate and key whose public exponent is 1, derived from a real RSA key.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { ErrorCode } from '../../shared/errors';
import { buildSelfSigned } from '../../shared/pki/builder';

/** A certificate and private key with hostile RSA parameters, and the code an upload must answer. */
export interface HostileRsaCase {
  name: string;
  expectedCode: ErrorCode;
  certificatePem: string;
  privateKeyPem: string;
}

const DAY = 86_400_000;

/** The hostile cases, generated from fresh real keys. */
export async function hostileRsaCases(): Promise<HostileRsaCase[]> {
  const real = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const jwk = real.export({ format: 'jwk' });
  // e = 1 makes d = dP = dQ = 1 a consistent key: "encryption" is the identity.
  const one = Buffer.from([1]).toString('base64url');
  const key = createPrivateKey({ key: { ...jwk, e: one, d: one, dp: one, dq: one }, format: 'jwk' });
  const now = Date.now();
  const cert = buildSelfSigned(key, {
    subject: [['CN', 'Hostile e=1']],
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
  });
  return [
    {
      name: 'public exponent 1',
      expectedCode: 'WEAK_PUBLIC_KEY',
      certificatePem: cert.pem,
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    },
  ];
}
