/**
 * Recording encryption benchmark: reccert against the openssl CLI, side by side in one run.
 *
 *   npx tsx bench/recording.ts            # 256 MiB
 *   RECCERT_BENCH_MIB=1024 npx tsx bench/recording.ts
 *
 * Each tool runs as its own process under `/usr/bin/time -v` (peak RSS of that process alone);
 * ours is bundled with esbuild and run by plain `node`, so the figure is the decryptor's, not
 * tsx's. Median of 3 runs. The decryptor's memory is also given over a baseline: the same child
 * decrypting a 1 KiB recording (node, the bundle and the key; no content). Prints a table and
 * writes bench/results/recording.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.RECCERT_BENCH_MIB ?? 256);
const RUNS = Number(process.env.RECCERT_BENCH_RUNS ?? 3);
const ROOT = path.resolve(__dirname, '..');
const TIME = '/usr/bin/time';

const CHILD = `
import { readFileSync } from 'node:fs';
import { decryptFile, encryptFile, PrivateKeyUnwrapper } from './shared/recording';
const [mode, input, output, certPath, keyPath] = process.argv.slice(2);
(async () => {
  const cert = readFileSync(certPath);
  if (mode === 'encrypt') {
    await encryptFile(input, output, [cert]);
  } else {
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: readFileSync(keyPath), certificate: cert });
    await decryptFile(input, output, unwrapper);
  }
  if (process.env.REPORT_RSS) process.stderr.write('maxrss_kb=' + process.resourceUsage().maxRSS + '\\n');
})().catch((e) => { console.error(e); process.exit(1); });
`;

interface Measure {
  seconds: number;
  peakRssKiB: number | undefined;
}

function run(cmd: string, args: string[]): Promise<Measure> {
  const useTime = existsSync(TIME);
  const [file, argv] = useTime ? [TIME, ['-v', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...(useTime ? {} : { REPORT_RSS: '1' }) },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0)
        return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${stderr.slice(-2000)}`));
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr) ?? /maxrss_kb=(\d+)/.exec(stderr);
      resolve({ seconds, peakRssKiB: m ? Number(m[1]) : undefined });
    });
  });
}

async function seededFile(file: string, size: number): Promise<string> {
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(MiB);
  const out = createWriteStream(file);
  for (let left = size; left > 0; left -= MiB) {
    const chunk = keystream.update(zeros.subarray(0, Math.min(left, MiB)));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  return hash.digest('hex');
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Row {
  operation: 'encrypt' | 'decrypt';
  tool: 'reccert' | 'openssl';
  mbPerSecond: number;
  peakRssMiB: number | undefined;
  secondsPerRun: number[];
  peakRssMiBPerRun: Array<number | undefined>;
}

async function main(): Promise<void> {
  const size = SIZE_MIB * MiB;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'reccert-bench-'));
  try {
    const cert = path.join(dir, 'tenant.pem');
    const key = path.join(dir, 'tenant.key');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=bench',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const child = path.join(dir, 'child.js');
    buildSync({
      stdin: { contents: CHILD, resolveDir: ROOT, loader: 'ts', sourcefile: 'bench-child.ts' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: child,
      logLevel: 'error',
    });
    const plain = path.join(dir, 'rec.wav');
    process.stdout.write(`generating ${SIZE_MIB} MiB ... `);
    const digest = await seededFile(plain, size);
    process.stdout.write('done\n');

    const oaep = ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'];
    const ops: Array<{
      operation: Row['operation'];
      tool: Row['tool'];
      cmd: string;
      args: string[];
      out: string;
    }> = [
      {
        operation: 'encrypt',
        tool: 'reccert',
        cmd: process.execPath,
        args: [child, 'encrypt', plain, path.join(dir, 'ours.cms'), cert],
        out: path.join(dir, 'ours.cms'),
      },
      {
        operation: 'encrypt',
        tool: 'openssl',
        cmd: 'openssl',
        args: [
          'cms',
          '-encrypt',
          '-stream',
          '-binary',
          '-aes-256-gcm',
          '-recip',
          cert,
          ...oaep,
          '-in',
          plain,
          '-outform',
          'DER',
          '-out',
          path.join(dir, 'ossl.cms'),
        ],
        out: path.join(dir, 'ossl.cms'),
      },
      {
        operation: 'decrypt',
        tool: 'reccert',
        cmd: process.execPath,
        args: [child, 'decrypt', path.join(dir, 'ossl.cms'), path.join(dir, 'ours.wav'), cert, key],
        out: path.join(dir, 'ours.wav'),
      },
      {
        operation: 'decrypt',
        tool: 'openssl',
        cmd: 'openssl',
        args: [
          'cms',
          '-decrypt',
          '-binary',
          '-inform',
          'DER',
          '-in',
          path.join(dir, 'ossl.cms'),
          '-inkey',
          key,
          '-recip',
          cert,
          '-out',
          path.join(dir, 'ossl.wav'),
        ],
        out: path.join(dir, 'ossl.wav'),
      },
    ];

    const measures = new Map<(typeof ops)[number], Measure[]>(ops.map((o) => [o, []]));
    // Interleave the tools within each round so that both see the same machine state.
    for (let round = 0; round < RUNS; round++) {
      for (const op of ops) {
        await fs.rm(op.out, { force: true });
        measures.get(op)!.push(await run(op.cmd, op.args));
      }
    }
    // The figures only count if the outputs are right.
    for (const wav of ['ours.wav', 'ossl.wav']) {
      if ((await sha256(path.join(dir, wav))) !== digest) throw new Error(`${wav} does not match the input`);
    }
    execFileSync('openssl', [
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      'DER',
      '-in',
      path.join(dir, 'ours.cms'),
      '-inkey',
      key,
      '-recip',
      cert,
      '-out',
      path.join(dir, 'check.wav'),
    ]);
    if ((await sha256(path.join(dir, 'check.wav'))) !== digest)
      throw new Error('openssl could not decrypt our output');

    // Baseline for the decryptor's memory: the same process with (almost) no content.
    const tiny = path.join(dir, 'tiny.wav');
    await fs.writeFile(tiny, Buffer.alloc(1024, 1));
    execFileSync(process.execPath, [child, 'encrypt', tiny, path.join(dir, 'tiny.cms'), cert]);
    const baseline: number[] = [];
    for (let round = 0; round < RUNS; round++) {
      await fs.rm(path.join(dir, 'tiny.out'), { force: true });
      const m = await run(process.execPath, [
        child,
        'decrypt',
        path.join(dir, 'tiny.cms'),
        path.join(dir, 'tiny.out'),
        cert,
        key,
      ]);
      if (m.peakRssKiB !== undefined) baseline.push(m.peakRssKiB / 1024);
    }
    const decryptBaselineRssMiB = baseline.length ? median(baseline) : undefined;

    const rows: Row[] = ops.map((op) => {
      const m = measures.get(op)!;
      const rss = m.map((x) => (x.peakRssKiB === undefined ? undefined : x.peakRssKiB / 1024));
      const known = rss.filter((x): x is number => x !== undefined);
      return {
        operation: op.operation,
        tool: op.tool,
        mbPerSecond: size / 1e6 / median(m.map((x) => x.seconds)),
        peakRssMiB: known.length ? median(known) : undefined,
        secondsPerRun: m.map((x) => x.seconds),
        peakRssMiBPerRun: rss,
      };
    });
    const pick = (operation: Row['operation'], tool: Row['tool']) =>
      rows.find((r) => r.operation === operation && r.tool === tool)!;
    const encryptRatio = pick('encrypt', 'reccert').mbPerSecond / pick('encrypt', 'openssl').mbPerSecond;
    const decryptRatio = pick('decrypt', 'reccert').mbPerSecond / pick('decrypt', 'openssl').mbPerSecond;

    const fmt = (n: number | undefined, digits = 0) => (n === undefined ? 'n/a' : n.toFixed(digits));
    const lines = [
      `| operation | tool | MB/s (median of ${RUNS}) | peak RSS MiB |`,
      '|---|---|---:|---:|',
      ...rows.map((r) => `| ${r.operation} | ${r.tool} | ${fmt(r.mbPerSecond)} | ${fmt(r.peakRssMiB)} |`),
    ];
    console.log(
      `\n${SIZE_MIB} MiB, node ${process.version}, ${execFileSync('openssl', ['version']).toString().trim()}, ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}\n`,
    );
    console.log(lines.join('\n'));
    console.log(`\nencrypt: reccert/openssl = ${encryptRatio.toFixed(2)}x (target >= 1.2x)`);
    console.log(
      `decrypt: reccert/openssl = ${decryptRatio.toFixed(2)}x (target >= 1.5x); reccert peak RSS ${fmt(pick('decrypt', 'reccert').peakRssMiB)} MiB, ${fmt(decryptBaselineRssMiB)} MiB for a 1 KiB recording`,
    );

    const resultsDir = path.join(ROOT, 'bench', 'results');
    await fs.mkdir(resultsDir, { recursive: true });
    await fs.writeFile(
      path.join(resultsDir, 'recording.json'),
      `${JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          sizeBytes: size,
          runs: RUNS,
          node: process.version,
          openssl: execFileSync('openssl', ['version']).toString().trim(),
          cpus: os.cpus().length,
          cpuModel: os.cpus()[0]?.model,
          rows,
          ratios: { encrypt: encryptRatio, decrypt: decryptRatio },
          decryptBaselineRssMiB,
          targets: { encrypt: 1.2, decrypt: 1.5, decryptPeakRssMiB: 64 },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
