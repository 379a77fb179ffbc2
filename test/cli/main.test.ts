import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorLine, ROOT, reccert } from './cli';

const COMMANDS = ['keygen', 'convert-key', 'inspect', 'upload', 'escrow', 'backup', 'token'];

describe('reccert', () => {
  it('lists every command in --help', async () => {
    const result = await reccert(['--help']);

    expect(result.code).toBe(0);
    for (const name of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(result.stdout).toContain('Exit codes:');
  });

  it.each(COMMANDS)('shows the help of %s with --help, -h and help <command>', async (name) => {
    const long = await reccert([name, '--help']);
    const short = await reccert([name, '-h']);
    const topic = await reccert(['help', name]);

    expect(long.code).toBe(0);
    expect(long.stdout).toMatch(new RegExp(`^Usage: reccert ${name} `));
    expect(long.stdout).toContain('--json');
    expect(short.stdout).toBe(long.stdout);
    expect(topic.stdout).toBe(long.stdout);
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

    const result = await reccert(['--version']);

    expect(result.stdout.trim()).toBe(version);
  });

  it('runs as `npx reccert` from the package without a build step', async () => {
    const { stdout } = await promisify(execFile)(
      'npx',
      ['--offline', '--no-install', 'reccert', '--version'],
      { cwd: ROOT },
    );

    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    ['no command', [], /^reccert: missing command \(see: reccert --help\)$/],
    ['an unknown command', ['kegen'], /^reccert: unknown command 'kegen'; did you mean 'keygen'\?/],
    ['an option before the command', ['--json'], /^reccert: unknown option --json before the command/],
  ])('refuses %s with exit code 2 and one line', async (_name, args, message) => {
    const result = await reccert(args);

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
  });

  it('prints an error as JSON on stdout too with --json', async () => {
    const result = await reccert(['inspect', 'absent.pem', '--json']);

    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      error: {
        code: 'USAGE',
        message: "cannot read certificate file 'absent.pem': no such file (see: reccert inspect --help)",
      },
    });
  });

  it('prints a stack trace only with RECCERT_DEBUG=1', async () => {
    const quiet = await reccert(['inspect', 'absent.pem']);
    const debug = await reccert(['inspect', 'absent.pem'], { env: { RECCERT_DEBUG: '1' } });

    expect(quiet.stderr).not.toMatch(/^\s+at /m);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });
});
