/**
 * `reccert escrow set CERT` and `reccert escrow show`: the tenant's escrow certificate (DESIGN
 * section 10), to which the service seals a copy of every private key. Only the certificate goes
 * to the service; its private key stays with the tenant, offline.
 */
import { parseCommandArgs, positionals } from '../args';
import { EXIT, RefusedError, UsageError } from '../errors';
import { escapeControls, json, table } from '../format';
import { type Io, readInputFile } from '../io';
import { callJson, SERVICE_OPTIONS, serviceHelp, serviceOf } from '../service';

const NAME = 'escrow';

export const help = `Usage: reccert escrow set --url URL --tenant TENANT --token TOKEN CERT [--json]
       reccert escrow show --url URL --tenant TENANT --token TOKEN [--json]

The escrow certificate: every private key the service holds for the tenant is also sealed to
it, so that a key backup (reccert backup download) opens with its key, which the tenant keeps
offline. Make one as any recording certificate (reccert keygen --cn "Acme Escrow" ...), keep
escrow.key somewhere safe and away from the service, and register escrow.pem.

  set CERT   register (or replace) the escrow certificate (PUT .../escrow-certificate). Keys
             already held are escrowed where the custody can unseal them; the answer lists
             what could not be and why (a Key Vault key is non-exportable).
  show       print the escrow certificate and what is not escrowed.

Options:
${serviceHelp('admin')}
  --json                print the service's JSON answer
  -h, --help            show this help

Exit codes: 0 done, 1 refused by the service (validation, 401, 403, 404 no escrow certificate
yet, ...), 2 usage, 3 service unreachable or failing (5xx).
`;

const OPTIONS = { ...SERVICE_OPTIONS } as const;

interface EscrowAnswer {
  fingerprintSha256?: unknown;
  subjectDN?: unknown;
  notAfter?: unknown;
  escrowedKeys?: unknown;
  notEscrowed?: unknown;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The answer for a person: the certificate, its expiry, and each key not escrowed with why. */
function render(answer: EscrowAnswer, action: string): string {
  const notEscrowed = Array.isArray(answer.notEscrowed) ? answer.notEscrowed : [];
  const lines = [
    action,
    table([
      ['Subject DN', text(answer.subjectDN)],
      ['Valid until', text(answer.notAfter)],
      ['SHA-256 fingerprint', text(answer.fingerprintSha256)],
      ['Escrowed keys', typeof answer.escrowedKeys === 'number' ? answer.escrowedKeys : undefined],
      ['Not escrowed', notEscrowed.length],
    ]),
  ];
  const notAfter = Date.parse(text(answer.notAfter) ?? '');
  if (Number.isFinite(notAfter) && notAfter <= Date.now()) {
    lines.push('warning: the escrow certificate has expired; register a new one (reccert escrow set).');
  }
  for (const item of notEscrowed) {
    const entry = item as { certificateId?: unknown; reason?: unknown };
    lines.push(
      `  ${escapeControls(text(entry.certificateId) ?? '?')}: ${escapeControls(text(entry.reason) ?? 'no reason given')}`,
    );
  }
  if (notEscrowed.length > 0) {
    lines.push('Keep your own copies of the keys listed above: a key backup cannot include them.');
  }
  return `${lines.join('\n')}\n`;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'set' && sub !== 'show') {
    throw new UsageError(
      sub === undefined ? 'missing subcommand: set or show' : `unknown subcommand '${sub}': set or show`,
      NAME,
    );
  }
  const parsed = parseCommandArgs(NAME, rest, OPTIONS);
  const [certPath] = positionals(parsed, NAME, sub === 'set' ? ['CERT'] : [], sub === 'set' ? 1 : 0);
  const service = await serviceOf(parsed, io, NAME, 'a token');
  let answer: Record<string, unknown>;
  if (sub === 'set') {
    const certificate = readInputFile(io, certPath!, 'escrow certificate', NAME);
    // The escrow key must never come near the service: refuse before anything is sent.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(certificate)) {
      throw new RefusedError(
        'PRIVATE_KEY_NOT_SENT',
        `'${certPath}' holds a private key; give only the escrow certificate and keep its key offline`,
      );
    }
    answer = (await callJson(service, 'PUT', '/escrow-certificate', { certificate })).body;
  } else {
    answer = (await callJson(service, 'GET', '/escrow-certificate')).body;
  }
  if (parsed.values.json === true) {
    io.out(json(answer));
    return EXIT.ok;
  }
  io.out(render(answer, sub === 'set' ? 'Escrow certificate registered.' : 'Escrow certificate:'));
  return EXIT.ok;
}
