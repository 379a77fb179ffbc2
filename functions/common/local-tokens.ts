/**
 * Development tokens: HS256 JWTs signed with a secret kept in the data directory (mode 0600).
 * `npx reccert token` mints them; the local server verifies them, and so do the Azure runtime in
 * `RECCERT_AUTH_MODE=local` and the API Gateway emulator of `npm run start:aws`, so every runtime
 * on this machine takes the same tokens.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { Principal, Role } from '../../shared/domain/types';
import { AuthError } from '../../shared/errors';
import { MAX_CLOCK_SKEW_SECONDS, principalFromClaims } from '../../shared/http/auth';

export const LOCAL_ISSUER = 'reccert-local';
export const LOCAL_AUDIENCE = 'reccert';

/** Reads the token secret from `<dataDir>/token.secret`, creating it (0600) on first use. */
export function loadOrCreateTokenSecret(dataDir: string): Buffer {
  const path = join(dataDir, 'token.secret');
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process created it first; use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const secret = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (secret.length < 32)
    throw new Error(`${path} does not hold a 32-byte secret; delete it to create a new one.`);
  return secret;
}

export interface MintOptions {
  subject?: string;
  tenants: string[];
  roles: Role[];
  /** Lifetime in seconds (default 12 hours). */
  expiresInSeconds?: number;
  now?: Date;
}

/** Signs a local token the local server accepts. */
export async function mintLocalToken(secret: Buffer, options: MintOptions): Promise<string> {
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims: Record<string, unknown> = { roles: options.roles };
  if (options.tenants.length === 1) claims.tenant = options.tenants[0];
  else claims.tenants = options.tenants;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject ?? 'local-admin')
    .setIssuer(LOCAL_ISSUER)
    .setAudience(LOCAL_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 12 * 3600))
    .sign(secret);
}

/**
 * Verifies a bearer token signed with the local secret and returns the caller; the claim rules
 * (exp required, iat/nbf not ahead, claim types) are those of shared/http/auth.ts.
 */
export async function verifyLocalToken(secret: Buffer, token: string, now = new Date()): Promise<Principal> {
  return (await verifyLocalTokenTimes(secret, token, now)).principal;
}

/** A verified token's caller and the window in which it stays acceptable (epoch seconds). */
interface VerifiedToken {
  principal: Principal;
  /** Its `exp`: acceptable while now < expires. */
  expires: number;
  /** Its latest `iat`/`nbf` less the allowed skew: acceptable while now >= from. */
  from: number;
}

async function verifyLocalTokenTimes(secret: Buffer, token: string, now: Date): Promise<VerifiedToken> {
  try {
    const { payload } = await jwtVerify(token, secret, {
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
      // jose's own time checks only as loose as the shared ones, which decide.
      clockTolerance: MAX_CLOCK_SKEW_SECONDS,
      currentDate: now,
    });
    const principal = principalFromClaims(payload, { transport: 'jwt', now });
    // principalFromClaims accepted the times, so exp, iat and nbf are numbers where present.
    const times = [payload.iat, payload.nbf].filter((t): t is number => typeof t === 'number');
    return {
      principal,
      expires: payload.exp as number,
      from: times.length ? Math.max(...times) - MAX_CLOCK_SKEW_SECONDS : Number.NEGATIVE_INFINITY,
    };
  } catch (error) {
    if (error instanceof AuthError) throw error;
    throw new AuthError(
      'UNAUTHORIZED',
      'The bearer token is invalid or expired. Get a new one (npx reccert token).',
      {
        cause: error,
      },
    );
  }
}

/** Bounds of {@link cachedLocalTokenVerifier}'s cache. */
export interface TokenCacheLimits {
  /** Most tokens remembered (least recently used go first). */
  maxEntries: number;
  /** Longer tokens are verified every time and never remembered. */
  maxTokenLength: number;
}

/** A few hundred bytes per entry: well under a megabyte at the default bounds. */
export const DEFAULT_TOKEN_CACHE_LIMITS: TokenCacheLimits = { maxEntries: 1000, maxTokenLength: 2048 };

/**
 * `verifyLocalToken` with the tokens it accepted remembered, keyed by the whole token string, so
 * an administrator's page or a script sending the same token again skips the HMAC and claim
 * parsing (most of a cheap request's CPU). A remembered token is accepted only while it still
 * would be: before its `exp` and not before its `iat`/`nbf` less the skew, against the clock of
 * each request; outside that window it is dropped and verified afresh, which refuses it as
 * before. Refused tokens are never remembered, and the secret cannot change while a process
 * runs, so a hit gives exactly the answer a full verification would. Each call returns its own
 * copy of the caller, so no request can alter what another one sees.
 */
export function cachedLocalTokenVerifier(
  secret: Buffer,
  limits: TokenCacheLimits = DEFAULT_TOKEN_CACHE_LIMITS,
): CachedTokenVerifier {
  // A Map iterates in insertion order: re-inserting on each hit makes its first key the LRU one.
  const cache = new Map<string, VerifiedToken>();
  const copy = (p: Principal): Principal => ({
    subject: p.subject,
    tenants: [...p.tenants],
    roles: [...p.roles],
  });
  const verify = async (token: string, now = new Date()): Promise<Principal> => {
    const seconds = now.getTime() / 1000;
    const hit = cache.get(token);
    if (hit !== undefined) {
      cache.delete(token);
      if (seconds < hit.expires && seconds >= hit.from) {
        cache.set(token, hit);
        return copy(hit.principal);
      }
    }
    const verified = await verifyLocalTokenTimes(secret, token, now);
    if (token.length <= limits.maxTokenLength && limits.maxEntries > 0) {
      cache.set(token, verified);
      while (cache.size > limits.maxEntries) {
        const oldest = cache.keys().next();
        if (oldest.done) break;
        cache.delete(oldest.value);
      }
    }
    return copy(verified.principal);
  };
  return { verify, size: () => cache.size };
}

/** What {@link cachedLocalTokenVerifier} returns. */
export interface CachedTokenVerifier {
  /** As `verifyLocalToken(secret, token, now)`. */
  verify(token: string, now?: Date): Promise<Principal>;
  /** How many tokens are remembered now. */
  size(): number;
}

/** Whether `token` claims to be a local (HS256) token; it says nothing about its validity. */
export function isLocalTokenShape(token: string): boolean {
  try {
    return decodeProtectedHeader(token).alg === 'HS256';
  } catch {
    return true;
  }
}
