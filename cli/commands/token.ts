/**
 * `reccert token`: a bearer token for the local runtime, signed with the secret in its data
 * directory (the same one the local server reads).
 */
import { resolve } from 'node:path';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import type { Role } from '../../shared/domain/types';
import { flag, intOption, parseCommandArgs, positionals, str, strs } from '../args';
import { EXIT, RefusedError, UsageError } from '../errors';
import { json } from '../format';
import { fsReason, type Io } from '../io';

const NAME = 'token';
const ROLES: readonly Role[] = ['admin', 'decrypt', 'operator'];
const DEFAULT_TTL = 12 * 3600;
const MAX_TTL = 30 * 86_400;

export const help = `Usage: reccert token --tenant TENANT --role ROLE [--role ROLE] [options]

Print a bearer token for the local reccert runtime, signed (HS256) with the secret in its data
directory, which is created on first use. Use it as
  curl -H "Authorization: Bearer $(npx reccert token --tenant acme --role admin)" ...

Options:
  --tenant TENANT    a tenant the token may act for (repeatable; may be omitted for an
                     operator-only token)
  --role ROLE        admin, decrypt or operator (repeatable)
  --subject NAME     who the token names in the audit trail (default local-admin)
  --ttl SECONDS      lifetime, 60 to ${MAX_TTL} (default ${DEFAULT_TTL}, 12 hours)
  --data-dir DIR     the local runtime's data directory (default $DATA_DIR or ./.reccert-data)
  --json             print {"token", "subject", "tenants", "roles", "expiresAt"}
  -h, --help         show this help
`;

const OPTIONS = {
  tenant: { type: 'string', multiple: true },
  role: { type: 'string', multiple: true },
  subject: { type: 'string' },
  ttl: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  positionals(parsed, NAME, [], 0);
  const roles = [...new Set(strs(parsed, 'role'))];
  if (roles.length === 0) throw new UsageError(`missing --role (${ROLES.join(', ')})`, NAME);
  for (const role of roles) {
    if (!ROLES.includes(role as Role))
      throw new UsageError(`--role must be ${ROLES.join(', ')}; not '${role}'`, NAME);
  }
  const tenants = [...new Set(strs(parsed, 'tenant').map((t) => t.trim()))];
  if (tenants.some((t) => t === '')) throw new UsageError('--tenant must not be empty', NAME);
  if (tenants.length === 0 && !(roles.length === 1 && roles[0] === 'operator')) {
    throw new UsageError('missing --tenant (only an operator-only token may omit it)', NAME);
  }
  const subject = str(parsed, 'subject')?.trim();
  if (subject === '') throw new UsageError('--subject must not be empty', NAME);
  const ttl = intOption(parsed, 'ttl', NAME, { min: 60, max: MAX_TTL, fallback: DEFAULT_TTL });
  const dataDir = resolve(io.cwd, str(parsed, 'data-dir') ?? io.env.DATA_DIR ?? '.reccert-data');

  let secret: Buffer;
  try {
    secret = loadOrCreateTokenSecret(dataDir);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ? fsReason(error) : (error as Error).message;
    throw new RefusedError(
      'TOKEN_SECRET_UNAVAILABLE',
      `cannot use the token secret in ${dataDir}: ${reason}`,
    );
  }
  const now = new Date();
  const token = await mintLocalToken(secret, {
    ...(subject ? { subject } : {}),
    tenants,
    roles: roles as Role[],
    expiresInSeconds: ttl,
    now,
  });
  if (flag(parsed, 'json')) {
    const expiresAt = new Date(Math.floor(now.getTime() / 1000) * 1000 + ttl * 1000).toISOString();
    io.out(json({ token, subject: subject ?? 'local-admin', tenants, roles, expiresAt }));
    return EXIT.ok;
  }
  io.out(`${token}\n`);
  return EXIT.ok;
}
