/**
 * The exit drill's speed (issue 15): `reccert verify-recordings` against the openssl route
 * (`openssl cms -decrypt` once per file, as many at a time as reccert has workers), side by side
 * in one run, on the same files: recordings per second for 10,000 small recordings and MB/s for
 * large ones (one per worker, 1 GiB each by default).
 *
 *   npx tsx bench/run.ts verify
 *   RECCERT_BENCH_VERIFY_MIB=256 RECCERT_BENCH_VERIFY_SMALL=2000 npx tsx bench/verify.ts
 *
 * Both routes discard the plaintext (reccert never writes it; openssl writes to /dev/null) and
 * both must find every recording good, or the run fails. reccert runs as users run it (`node
 * bin/reccert.js`, tsx start-up included). Interleaved rounds, medians. Peak RSS from
 * `/usr/bin/time -v` when it is installed: reccert's whole process (workers included), and the
 * largest single openssl process (that many run at once).
 */
import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createEncryptStream } from '../shared/recording';
import { makeKeyPair } from '../test/recording/helpers';
import { budget, fmt, machineInfo, markdownTable, median, msSince, ROOT, report, runMain } from './lib';

const MiB = 1024 * 1024;
const LARGE_MIB = Number(process.env.RECCERT_BENCH_VERIFY_MIB ?? 1024);
const SMALL_COUNT = Number(process.env.RECCERT_BENCH_VERIFY_SMALL ?? 10_000);
/** A small recording: 16 KiB, a few seconds of compressed audio. */
const SMALL_BYTES = 16 * 1024;
const RUNS = Number(process.env.RECCERT_BENCH_VERIFY_RUNS ?? 3);
const JOBS = Number(process.env.RECCERT_BENCH_VERIFY_JOBS ?? os.availableParallelism());
const TIME = '/usr/bin/time';
const BIN = path.join(ROOT, 'bin', 'reccert.js');

interface Sample {
  ms: number;
  peakRssKiB: number | undefined;
}

/** Runs one process (under /usr/bin/time -v when present); rejects unless it exits `expect`. */
function timed(cmd: string, args: string[], expectCode = 0): Promise<Sample & { stdout: string }> {
  const useTime = existsSync(TIME);
  const [file, argv] = useTime ? [TIME, ['-v', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = msSince(started);
      if (code !== expectCode)
        return reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({ ms, peakRssKiB: m ? Number(m[1]) : undefined, stdout });
    });
  });
}

/** reccert verify-recordings over the folder; every recording must pass. */
async function viaReccert(folder: string, keyPath: string, files: number): Promise<Sample> {
  const r = await timed(process.execPath, [
    BIN,
    'verify-recordings',
    '--key',
    keyPath,
    '--jobs',
    String(JOBS),
    '--json',
    folder,
  ]);
  const result = JSON.parse(r.stdout) as { files: number; ok: number };
  if (result.files !== files || result.ok !== files)
    throw new Error(`reccert checked ${result.files} files, ${result.ok} ok; expected ${files}`);
  return { ms: r.ms, peakRssKiB: r.peakRssKiB };
}

/** `openssl cms -decrypt` per file, JOBS at a time; every one must succeed. */
async function viaOpenssl(paths: string[], keyPath: string, certPath: string): Promise<Sample> {
  const started = process.hrtime.bigint();
  let next = 0;
  let peak: number | undefined;
  const lane = async (): Promise<void> => {
    while (next < paths.length) {
      const file = paths[next++]!;
      const r = await timed('openssl', [
        'cms',
        '-decrypt',
        '-binary',
        '-inform',
        'DER',
        '-in',
        file,
        '-inkey',
        keyPath,
        '-recip',
        certPath,
        '-out',
        '/dev/null',
      ]);
      if (r.peakRssKiB !== undefined) peak = Math.max(peak ?? 0, r.peakRssKiB);
    }
  };
  await Promise.all(Array.from({ length: JOBS }, lane));
  return { ms: msSince(started), peakRssKiB: peak };
}

function seeded(size: number, seed: number): Readable {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  return Readable.from(
    (function* () {
      for (let left = size; left > 0; left -= MiB)
        yield keystream.update(zeros.subarray(0, Math.min(left, MiB)));
    })(),
  );
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reccert-bench-verify-'));
  try {
    const { keyPath, certPath, certPem: cert } = await makeKeyPair(dir, 'tenant');

    process.stdout.write(`writing ${SMALL_COUNT} small recordings (${SMALL_BYTES / 1024} KiB) ... `);
    const smallDir = path.join(dir, 'small');
    const smallPaths: string[] = [];
    for (let i = 0; i < SMALL_COUNT; i++) {
      // 100 per folder, as a recording archive spreads them by day or agent.
      const sub = path.join(smallDir, String(Math.floor(i / 100)).padStart(3, '0'));
      if (i % 100 === 0) await fs.mkdir(sub, { recursive: true });
      const file = path.join(sub, `rec-${i}.cms`);
      await pipeline(
        seeded(SMALL_BYTES, i % 251),
        createEncryptStream([cert], { contentLength: SMALL_BYTES }),
        createWriteStream(file),
      );
      smallPaths.push(file);
    }
    process.stdout.write(`done\nwriting ${JOBS} large recordings (${LARGE_MIB} MiB) ... `);
    const largeDir = path.join(dir, 'large');
    await fs.mkdir(largeDir);
    const largePaths: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const file = path.join(largeDir, `large-${i}.cms`);
      await pipeline(
        seeded(LARGE_MIB * MiB, 200 + i),
        createEncryptStream([cert], { contentLength: LARGE_MIB * MiB }),
        createWriteStream(file),
      );
      largePaths.push(file);
    }
    process.stdout.write('done\n');
    const largeBytes = JOBS * LARGE_MIB * MiB;

    const samples = {
      smallReccert: [] as Sample[],
      smallOpenssl: [] as Sample[],
      largeReccert: [] as Sample[],
      largeOpenssl: [] as Sample[],
    };
    for (let round = 0; round < RUNS; round++) {
      // Interleaved, so that both routes see the same machine and page cache.
      samples.smallReccert.push(await viaReccert(smallDir, keyPath, SMALL_COUNT));
      samples.smallOpenssl.push(await viaOpenssl(smallPaths, keyPath, certPath));
      samples.largeReccert.push(await viaReccert(largeDir, keyPath, JOBS));
      samples.largeOpenssl.push(await viaOpenssl(largePaths, keyPath, certPath));
      console.log(`round ${round + 1}/${RUNS} done`);
    }

    const ms = (s: Sample[]) => median(s.map((x) => x.ms));
    const rss = (s: Sample[]) => {
      const known = s.map((x) => x.peakRssKiB).filter((x): x is number => x !== undefined);
      return known.length > 0 ? median(known) / 1024 : undefined;
    };
    const perSecond = (s: Sample[]) => SMALL_COUNT / (ms(s) / 1000);
    const mbPerSecond = (s: Sample[]) => largeBytes / 1e6 / (ms(s) / 1000);
    const smallRatio = perSecond(samples.smallReccert) / perSecond(samples.smallOpenssl);
    const largeRatio = mbPerSecond(samples.largeReccert) / mbPerSecond(samples.largeOpenssl);
    const rssText = (v: number | undefined) => (v === undefined ? 'n/a' : fmt(v, 0));

    report(
      {
        name: 'verify',
        machine: machineInfo(),
        budgets: [
          budget('small recordings/s, x the openssl route', smallRatio, 'min', 1, 'x'),
          budget('large MB/s, x the openssl route', largeRatio, 'min', 1, 'x'),
        ],
        tables: [
          {
            title: `Exit drill, ${JOBS} at a time (median of ${RUNS} interleaved rounds)`,
            markdown: markdownTable(
              ['recordings', 'route', 'wall s', 'recordings/s', 'MB/s', 'peak RSS MiB', 'x openssl'],
              [
                [
                  `${fmt(SMALL_COUNT, 0)} x ${SMALL_BYTES / 1024} KiB`,
                  'reccert verify-recordings',
                  fmt(ms(samples.smallReccert) / 1000, 1),
                  fmt(perSecond(samples.smallReccert), 0),
                  fmt((SMALL_COUNT * SMALL_BYTES) / 1e6 / (ms(samples.smallReccert) / 1000), 1),
                  rssText(rss(samples.smallReccert)),
                  `${fmt(smallRatio)}x`,
                ],
                [
                  `${fmt(SMALL_COUNT, 0)} x ${SMALL_BYTES / 1024} KiB`,
                  'openssl cms -decrypt per file',
                  fmt(ms(samples.smallOpenssl) / 1000, 1),
                  fmt(perSecond(samples.smallOpenssl), 0),
                  fmt((SMALL_COUNT * SMALL_BYTES) / 1e6 / (ms(samples.smallOpenssl) / 1000), 1),
                  rssText(rss(samples.smallOpenssl)),
                  '1.00x',
                ],
                [
                  `${JOBS} x ${LARGE_MIB} MiB`,
                  'reccert verify-recordings',
                  fmt(ms(samples.largeReccert) / 1000, 1),
                  fmt(JOBS / (ms(samples.largeReccert) / 1000), 2),
                  fmt(mbPerSecond(samples.largeReccert), 0),
                  rssText(rss(samples.largeReccert)),
                  `${fmt(largeRatio)}x`,
                ],
                [
                  `${JOBS} x ${LARGE_MIB} MiB`,
                  'openssl cms -decrypt per file',
                  fmt(ms(samples.largeOpenssl) / 1000, 1),
                  fmt(JOBS / (ms(samples.largeOpenssl) / 1000), 2),
                  fmt(mbPerSecond(samples.largeOpenssl), 0),
                  rssText(rss(samples.largeOpenssl)),
                  '1.00x',
                ],
              ],
            ),
          },
        ],
        notes: [
          `Same files for both routes, made by reccert's encryptor for one RSA-2048 certificate; ${JOBS} at a time on both (reccert --jobs ${JOBS}, openssl ${JOBS} processes in parallel).`,
          'reccert: one process (tsx start-up included), keys parsed once per worker thread, each recording streamed through the decryptor with the GCM tag checked and the plaintext dropped. openssl: a process per recording, `-out /dev/null`; it exits 0 only when the tag verified.',
          'reccert pays its start-up once per run (node, tsx compiling the sources, the workers: about 1 s on a busy machine), so a run of a few files or a few MiB measures mostly that; the default sizes are what an archive looks like.',
          "Peak RSS: reccert's whole process with its workers; for openssl the largest single process, of which that many run at once (openssl cms reads a DER recording whole before decrypting it).",
        ],
        data: {
          runs: RUNS,
          jobs: JOBS,
          smallCount: SMALL_COUNT,
          smallBytes: SMALL_BYTES,
          largeMib: LARGE_MIB,
          samples,
        },
      },
      started,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
