/**
 * `reccert backup download | open | restore`: the tenant's key backup (DESIGN section 10), a CMS
 * file only the escrow key opens, taken from one deployment and put into another.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BackupBundle } from '../../shared/escrow/backup-bundle';
import { flag, type Parsed, parseCommandArgs, positionals, str } from '../args';
import {
  type OpenedEntry,
  openBackupFile,
  readBackupFolder,
  SUMMARY_FILE,
  writeBackupFolder,
} from '../backup-file';
import { type RestoreReport, restoreBackup } from '../backup-restore';
import { EXIT, RefusedError, UsageError } from '../errors';
import { escapeControls, json, table } from '../format';
import { fsReason, type Io, readPassword, refuseOverwrite, writeFileAtomic } from '../io';
import { jsonBody, refusal, SERVICE_OPTIONS, send, serviceHelp, serviceOf, tenantUrl } from '../service';

const NAME = 'backup';

export const help = `Usage: reccert backup download --url URL --tenant TENANT --token TOKEN --out backup.cms
       reccert backup open --escrow-key escrow.key [--escrow-cert escrow.pem] backup.cms --out DIR
       reccert backup restore --url URL --tenant TENANT --token TOKEN DIR
       reccert backup restore --url URL --tenant TENANT --token TOKEN backup.cms --escrow-key escrow.key

The tenant's key backup: every certificate of the tenant (expired and retired ones too) with
its private key where the escrow holds one, in one CMS file for the escrow certificate
(reccert escrow set). Only the escrow key opens it; stock openssl does too:
  openssl cms -decrypt -binary -inform DER -in backup.cms -inkey escrow.key -recip escrow.pem

  download   save the backup (GET .../key-backup, admin role, audited) to --out, mode 0600.
  open       decrypt backup.cms with the escrow key and write DIR/<certificateId>.pem and
             DIR/<certificateId>.key (mode 0600, DIR 0700 when created) and DIR/${SUMMARY_FILE}
             (profiles, screen-recording set, status of each certificate); checks that each
             key belongs to its certificate (exit 1 if one does not).
  restore    upload every certificate with its key to a deployment (a fresh one), then replay
             the assignments in order: each IVR profile's previous certificates oldest first,
             then its active one, then the screen-recording set. Safe to run again: what is
             already there is not repeated. An expired certificate cannot be uploaded (the
             service refuses it); it is reported as skipped, and its key stays in the backup
             for reccert decrypt --key. Exit 1 if any step failed.

Options:
${serviceHelp('admin')}
  --out PATH            download: the file to write; open: the folder to write
  --escrow-key FILE     the escrow certificate's private key (PEM)
  --escrow-cert FILE    the escrow certificate: only its recipient entry is tried (optional)
  --password PW         password of an encrypted escrow key
  --password-file FILE  read that password from the first line of FILE ('-' = standard input)
  --force               replace files that exist
  --json                print the result (open: the files; restore: the report) as JSON
  -h, --help            show this help

Exit codes: 0 done, 1 refused or a step failed (the service said no, NO_MATCHING_KEY,
INTEGRITY_CHECK_FAILED, KEY_MISMATCH, a file exists), 2 usage, 3 service unreachable or
failing (5xx).
`;

const OPTIONS = {
  ...SERVICE_OPTIONS,
  out: { type: 'string' },
  'escrow-key': { type: 'string' },
  'escrow-cert': { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  force: { type: 'boolean' },
} as const;

const SUBCOMMANDS = ['download', 'open', 'restore'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** Options that belong to another subcommand are a usage error, not silently ignored. */
const ALLOWED: Record<Subcommand, readonly string[]> = {
  download: ['url', 'tenant', 'token', 'token-file', 'timeout', 'out', 'force'],
  open: ['escrow-key', 'escrow-cert', 'password', 'password-file', 'out', 'force'],
  restore: [
    'url',
    'tenant',
    'token',
    'token-file',
    'timeout',
    'escrow-key',
    'escrow-cert',
    'password',
    'password-file',
  ],
};

function checkOptions(parsed: Parsed, sub: Subcommand): void {
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === undefined || name === 'help' || name === 'json') continue;
    if (!ALLOWED[sub].includes(name)) throw new UsageError(`backup ${sub} takes no --${name}`, NAME);
  }
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (!SUBCOMMANDS.includes(sub as Subcommand)) {
    const choices = 'download, open or restore';
    throw new UsageError(
      sub === undefined ? `missing subcommand: ${choices}` : `unknown subcommand '${sub}': ${choices}`,
      NAME,
    );
  }
  const parsed = parseCommandArgs(NAME, rest, OPTIONS);
  checkOptions(parsed, sub as Subcommand);
  switch (sub as Subcommand) {
    case 'download':
      return download(parsed, io);
    case 'open':
      return open(parsed, io);
    case 'restore':
      return restore(parsed, io);
  }
}

async function download(parsed: Parsed, io: Io): Promise<number> {
  positionals(parsed, NAME, [], 0);
  const out = str(parsed, 'out');
  if (out === undefined) throw new UsageError('missing --out (the file to save the backup to)', NAME);
  const force = flag(parsed, 'force');
  refuseOverwrite(io, out, force);
  const service = await serviceOf(parsed, io, NAME, 'a token');
  const url = tenantUrl(service, '/key-backup');
  const response = await send(service, url, { method: 'GET', accept: 'application/cms' });
  if (!response.ok) throw refusal(response.status, response.statusText, await jsonBody(response));
  const type = response.headers.get('content-type') ?? '';
  const body = Buffer.from(await response.arrayBuffer());
  // A CMS file is one DER SEQUENCE; anything else (a proxy's HTML page) is not a backup.
  if (/^(text\/|application\/json)/.test(type) || body.length === 0 || body[0] !== 0x30) {
    throw new RefusedError(
      'INVALID_RESPONSE',
      `the service answered ${response.status} without a CMS backup`,
      {
        exitCode: EXIT.unavailable,
      },
    );
  }
  writeFileAtomic(io, out, body, { mode: 0o600, force });
  if (flag(parsed, 'json')) {
    io.out(json({ out, bytes: body.length }));
    return EXIT.ok;
  }
  io.out(
    `${table([
      ['Saved', `${out} (${body.length} bytes, mode 0600)`],
      ['Open with', `reccert backup open --escrow-key escrow.key ${out} --out DIR`],
    ])}\n`,
  );
  return EXIT.ok;
}

async function escrowKey(parsed: Parsed, io: Io) {
  const keyPath = str(parsed, 'escrow-key');
  if (keyPath === undefined) throw new UsageError('give the escrow private key with --escrow-key', NAME);
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  return { keyPath, certPath: str(parsed, 'escrow-cert'), password };
}

function where(entry: { activeIn: { ivrProfiles: string[]; screenRecording: boolean } }): string {
  const places = entry.activeIn.ivrProfiles.map((p) => `IVR profile ${p}`);
  if (entry.activeIn.screenRecording) places.push('screen recording');
  return places.length > 0 ? `in use: ${places.join(', ')}` : 'not in use';
}

function keyLine(entry: OpenedEntry): string {
  switch (entry.keyCheck) {
    case 'matches':
      return `${entry.keyFile} (matches the certificate)`;
    case 'mismatch':
      return `${entry.keyFile}: KEY_MISMATCH, this key does not belong to the certificate`;
    case 'unreadable':
      return `${entry.keyFile}: INVALID_PRIVATE_KEY, the key cannot be read`;
    case 'absent':
      return `none: not escrowed (${entry.notEscrowedReason ?? 'no reason given'})`;
  }
}

async function open(parsed: Parsed, io: Io): Promise<number> {
  const [input] = positionals(parsed, NAME, ['BACKUP'], 1) as [string];
  const out = str(parsed, 'out');
  if (out === undefined) throw new UsageError('missing --out (the folder to write the keys to)', NAME);
  const bundle = await openBackupFile(io, input, await escrowKey(parsed, io), NAME);
  const opened = writeBackupFolder(io, bundle, out, flag(parsed, 'force'));
  const bad = opened.filter((e) => e.keyCheck === 'mismatch' || e.keyCheck === 'unreadable');
  if (flag(parsed, 'json')) {
    io.out(
      json({
        out,
        tenantId: bundle.tenantId,
        createdAt: bundle.createdAt,
        profiles: bundle.profiles,
        screenRecordingCertificateIds: bundle.screenRecordingCertificateIds,
        certificates: opened,
      }),
    );
    return bad.length > 0 ? EXIT.refused : EXIT.ok;
  }
  const lines = [
    `Opened the backup of tenant ${escapeControls(bundle.tenantId)} made ${bundle.createdAt}: ${opened.length} certificate(s), ${opened.filter((e) => e.keyFile).length} key(s), written to ${out}`,
  ];
  for (const p of bundle.profiles) {
    const previous =
      p.previousCertificateIds.length > 0 ? `, before: ${p.previousCertificateIds.join(', ')}` : '';
    lines.push(
      `IVR profile ${escapeControls(p.profileId)}: ${p.activeCertificateId}${escapeControls(previous)}`,
    );
  }
  if (bundle.screenRecordingCertificateIds.length > 0) {
    lines.push(`Screen recording: ${escapeControls(bundle.screenRecordingCertificateIds.join(', '))}`);
  }
  for (const e of opened) {
    lines.push('');
    lines.push(
      table([
        ['Certificate', e.certificateFile],
        ['Status', `${e.status}; ${where(e)}`],
        ['Valid until', e.notAfter],
        ['Key', keyLine(e)],
      ]),
    );
  }
  io.out(`${lines.join('\n')}\n`);
  for (const e of bad) io.err(`${keyLine(e)}\n`);
  return bad.length > 0 ? EXIT.refused : EXIT.ok;
}

async function restore(parsed: Parsed, io: Io): Promise<number> {
  const [input] = positionals(parsed, NAME, ['DIR or BACKUP'], 1) as [string];
  let isFolder: boolean;
  try {
    isFolder = statSync(resolve(io.cwd, input)).isDirectory();
  } catch (error) {
    throw new UsageError(`cannot read '${input}': ${fsReason(error)}`, NAME);
  }
  if (isFolder && str(parsed, 'escrow-key') !== undefined) {
    throw new UsageError(
      `'${input}' is a folder of opened keys: --escrow-key is only for a backup.cms`,
      NAME,
    );
  }
  const service = await serviceOf(parsed, io, NAME, 'private keys');
  const bundle: BackupBundle = isFolder
    ? readBackupFolder(io, input, NAME)
    : await openBackupFile(io, input, await escrowKey(parsed, io), NAME);
  const report = await restoreBackup(service, bundle, new Date());
  if (flag(parsed, 'json')) io.out(json(report));
  else io.out(renderRestore(report));
  return report.failed > 0 ? EXIT.refused : EXIT.ok;
}

function withReason(line: string, item: { code?: string; reason?: string }): string {
  const why = [item.code, item.reason].filter((s) => s !== undefined).join(': ');
  return why === '' ? line : `${line}: ${escapeControls(why)}`;
}

function renderRestore(report: RestoreReport): string {
  const count = (what: string) => report.certificates.filter((c) => c.result === what).length;
  const lines = [
    `Restored the backup of tenant ${escapeControls(report.backupTenant)} (made ${report.backupCreatedAt}) into tenant ${escapeControls(report.tenant)}.`,
    `Certificates: ${count('uploaded')} uploaded, ${count('exists')} already there, ${count('skipped')} skipped, ${count('failed')} failed`,
  ];
  for (const c of report.certificates) {
    if (c.result === 'skipped' || c.result === 'failed')
      lines.push(withReason(`  ${c.result} ${c.certificateId}`, c));
  }
  for (const a of report.assignments) {
    lines.push(withReason(`IVR ${escapeControls(a.profileId)}: ${a.certificateId} ${a.result}`, a));
  }
  const s = report.screenRecording;
  if (s.certificateIds.length > 0 || s.result === 'failed') {
    const what = s.result === 'applied' ? `added ${s.added.join(', ')}` : s.result;
    lines.push(withReason(`Screen recording: ${what}`, s));
  }
  if (s.skipped.length > 0) {
    lines.push(`Screen recording: not restored ${s.skipped.join(', ')} (not on the deployment, see above)`);
  }
  lines.push(
    report.failed > 0
      ? `${report.failed} step(s) failed; fix the cause and run the same command again.`
      : 'Done.',
  );
  return `${lines.join('\n')}\n`;
}
