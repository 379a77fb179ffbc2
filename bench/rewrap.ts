/**
 * Rewrap benchmark: `reccert rewrap` of one recording against a plain file copy and against what
 * a tenant has without it (`openssl cms -decrypt` then `openssl cms -encrypt`), side by side in
 * one run, interleaved rounds, median.
 *
 *   npx tsx bench/run.ts rewrap                        # 1 GiB
 *   RECCERT_BENCH_REWRAP_MIB=256 npx tsx bench/rewrap.ts
 *
 * Each contender is its own process. `reccert` is the real command (cli/main.ts) bundled with
 * esbuild and run by plain `node`, so the figure is the command's, not tsx's compile step; the
 * plain copy is the same kind of process streaming the file in the same 1 MiB chunks. `cp`
 * (a copy inside the kernel) is shown for reference. Rounds alternate which of the copy and the
 * rewrap goes first (4 rounds by default, RECCERT_BENCH_RUNS to change), so neither always follows
 * the previous round's write-back, and every timed process starts after the previous one's output
 * was deleted and a `sync` (untimed).
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { createWriteStream, promises as fs, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import {
  type Budget,
  budget,
  fmt,
  machineInfo,
  markdownTable,
  median,
  ROOT,
  report,
  runMain,
  runProcess,
} from './lib';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.RECCERT_BENCH_REWRAP_MIB ?? 1024);
const ROUNDS = Number(process.env.RECCERT_BENCH_RUNS ?? 4);

const CHILD = `
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { main } from './cli/main';
const [mode, ...rest] = process.argv.slice(2);
if (mode === 'copy') {
  const [input, output] = rest;
  pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), createWriteStream(output, { highWaterMark: 1 << 20 }))
    .catch((e) => { console.error(e); process.exit(1); });
} else {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
`;

function keyPair(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

async function seededFile(file: string, size: number): Promise<void> {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  const out = createWriteStream(file);
  for (let left = size; left > 0; left -= MiB) {
    const chunk = keystream.update(zeros.subarray(0, Math.min(left, MiB)));
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
}

const OAEP = ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'];

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'reccert-bench-rewrap-'));
  const times: Record<'copy' | 'rewrap' | 'openssl' | 'cp', number[]> = {
    copy: [],
    rewrap: [],
    openssl: [],
    cp: [],
  };
  try {
    const old = keyPair(dir, 'old');
    const next = keyPair(dir, 'next');
    const child = path.join(dir, 'child.js');
    buildSync({
      stdin: { contents: CHILD, resolveDir: ROOT, loader: 'ts', sourcefile: 'bench-rewrap-child.ts' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: child,
      logLevel: 'error',
    });
    const plain = path.join(dir, 'rec.wav');
    const cms = path.join(dir, 'rec.cms');
    process.stdout.write(`generating ${SIZE_MIB} MiB and encrypting it with openssl ... `);
    await seededFile(plain, SIZE_MIB * MiB);
    await runProcess('openssl', [
      'cms',
      '-encrypt',
      '-binary',
      '-aes-256-gcm',
      '-stream',
      '-recip',
      old.cert,
      ...OAEP,
      '-in',
      plain,
      '-outform',
      'DER',
      '-out',
      cms,
    ]);
    process.stdout.write('done\n');
    const out = (name: string) => path.join(dir, name);
    // Every timed process starts from the same state: the previous one's output deleted and no
    // dirty pages (a sync, untimed), so that none pays for another's write-back.
    const settle = () => execFileSync('sync');
    const rewrapArgs = [
      child,
      'rewrap',
      '--key',
      old.key,
      '--cert',
      old.cert,
      '--to',
      next.cert,
      cms,
      out('rewrapped.cms'),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const f of ['copy.cms', 'rewrapped.cms', 'ossl.wav', 'ossl.cms', 'cp.cms'])
        rmSync(out(f), { force: true });
      const copy = async () => {
        settle();
        times.copy.push((await runProcess(process.execPath, [child, 'copy', cms, out('copy.cms')])).ms);
        rmSync(out('copy.cms'));
      };
      const rewrap = async () => {
        settle();
        times.rewrap.push((await runProcess(process.execPath, rewrapArgs)).ms);
        rmSync(out('rewrapped.cms'));
      };
      // The two compared take turns going first: whichever follows the previous round's gigabytes
      // of openssl and cp output shares the disk with their write-back.
      if (round % 2 === 0) {
        await copy();
        await rewrap();
      } else {
        await rewrap();
        await copy();
      }
      settle();
      const decrypt = await runProcess('openssl', [
        'cms',
        '-decrypt',
        '-binary',
        '-inform',
        'DER',
        '-in',
        cms,
        '-inkey',
        old.key,
        '-recip',
        old.cert,
        '-out',
        out('ossl.wav'),
      ]);
      const encrypt = await runProcess('openssl', [
        'cms',
        '-encrypt',
        '-binary',
        '-aes-256-gcm',
        '-stream',
        '-recip',
        next.cert,
        ...OAEP,
        '-in',
        out('ossl.wav'),
        '-outform',
        'DER',
        '-out',
        out('ossl.cms'),
      ]);
      times.openssl.push(decrypt.ms + encrypt.ms);
      for (const f of ['ossl.wav', 'ossl.cms']) rmSync(out(f));
      settle();
      times.cp.push((await runProcess('cp', [cms, out('cp.cms')])).ms);
      rmSync(out('cp.cms'));
    }
    // The figures count only if the result is right: the new key opens it (an untimed run, so
    // that no timed contender leaves its output behind for the next one).
    await runProcess(process.execPath, rewrapArgs);
    await runProcess('openssl', [
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      'DER',
      '-in',
      out('rewrapped.cms'),
      '-inkey',
      next.key,
      '-recip',
      next.cert,
      '-out',
      out('check.wav'),
    ]);
    execFileSync('cmp', ['-s', plain, out('check.wav')]); // throws when they differ
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const size = SIZE_MIB * MiB;
  const mbps = (ms: number[]) => size / 1e6 / (median(ms) / 1000);
  const copy = mbps(times.copy);
  const rows: Array<[string, number[]]> = [
    ['plain streamed copy (a node process, 1 MiB chunks)', times.copy],
    ['`reccert rewrap` (new header, content copied, tag verified)', times.rewrap],
    ['`openssl cms -decrypt` then `openssl cms -encrypt`', times.openssl],
    ['`cp` (kernel copy, for reference)', times.cp],
  ];
  const budgets: Budget[] = [
    budget(
      'reccert rewrap time / plain copy time',
      median(times.rewrap) / median(times.copy),
      'max',
      1.1,
      'x',
    ),
  ];
  report(
    {
      name: 'rewrap',
      machine: machineInfo(),
      budgets,
      tables: [
        {
          title: `Rewrap of a ${SIZE_MIB} MiB recording (openssl -stream DER input, page-cached; median of ${ROUNDS} interleaved rounds)`,
          markdown: markdownTable(
            ['route', 'seconds', 'MB/s', 'time x plain copy', 'fastest s', 'fastest x fastest copy'],
            rows.map(([name, ms]) => [
              name,
              fmt(median(ms) / 1000),
              fmt(size / 1e6 / (median(ms) / 1000), 0),
              `${fmt(median(ms) / median(times.copy))}x`,
              fmt(Math.min(...ms) / 1000),
              `${fmt(Math.min(...ms) / Math.min(...times.copy))}x`,
            ]),
          ),
        },
      ],
      notes: [
        `reccert rewrap runs at ${fmt(mbps(times.rewrap) / copy)}x the plain copy's throughput and ${fmt(median(times.openssl) / median(times.rewrap))}x faster than decrypting and re-encrypting with openssl.`,
        'Every contender is a whole process (start-up included); the result is checked: the new key opens it with openssl cms -decrypt.',
        `Each timed process starts after the previous one's output was deleted and a sync (untimed). Rounds of the plain copy: ${fmt(Math.min(...times.copy) / 1000)} to ${fmt(Math.max(...times.copy) / 1000)} s; of the rewrap: ${fmt(Math.min(...times.rewrap) / 1000)} to ${fmt(Math.max(...times.rewrap) / 1000)} s. The copy's spread is the disk's: it is I/O-bound, the rewrap is bound by its tag check (AES-GCM over every byte on one core).`,
      ],
      data: { sizeMiB: SIZE_MIB, rounds: ROUNDS, times },
    },
    started,
  );
}

runMain(main);
