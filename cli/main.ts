/**
 * `reccert`: dispatches to the commands of `cli/commands.ts` and turns every failure into one
 * line on stderr and an exit code (2 usage, 1 refused, 3 service unavailable). A stack trace is
 * printed only with RECCERT_DEBUG=1.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, findCommand } from './commands';
import { cliWording, EXIT, oneLine, reportOf, UsageError } from './errors';
import { escapeControls } from './format';
import { type Io, processIo } from './io';

const GLOBAL_HELP = `reccert: recording certificates and keys, the same checks as the reccert service

Usage: reccert <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(19)}${c.summary}`).join('\n')}

Every command takes --help and --json (machine-readable output on stdout).

Exit codes:
  0  done
  1  refused: the input fails validation (the service would refuse it), the service said no,
     or an output file exists (use --force)
  2  usage: unknown option, bad value, missing or unreadable file
  3  the service could not be reached or failed; try again later

Set RECCERT_DEBUG=1 to print a stack trace with an unexpected error.
`;

/** Arguments before a `--` terminator (after it, everything is positional). */
function optionPart(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/** Edit distance, to suggest the command someone meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

function suggest(name: string): string {
  const close = COMMANDS.find((c) => distance(c.name, name) <= 2 || c.name.startsWith(name));
  return close ? `; did you mean '${close.name}'?` : '';
}

/** Runs `reccert` with `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  const json = optionPart(rest).includes('--json');
  let commandName: string | undefined;
  try {
    if (name === undefined) throw new UsageError('missing command');
    if (name === '--help' || name === '-h') {
      io.out(GLOBAL_HELP);
      return EXIT.ok;
    }
    if (name === '--version' || name === '-V') {
      io.out(`${version()}\n`);
      return EXIT.ok;
    }
    if (name === 'help') {
      const topic = rest[0];
      if (topic === undefined) {
        io.out(GLOBAL_HELP);
        return EXIT.ok;
      }
      const entry = findCommand(topic);
      if (!entry) throw new UsageError(`unknown command '${topic}'${suggest(topic)}`);
      io.out(entry.load().help);
      return EXIT.ok;
    }
    if (name.startsWith('-')) throw new UsageError(`unknown option ${name} before the command`);
    const entry = findCommand(name);
    if (!entry) throw new UsageError(`unknown command '${name}'${suggest(name)}`);
    commandName = entry.name;
    const command = entry.load();
    const options = optionPart(rest);
    if (options.includes('--help') || options.includes('-h')) {
      io.out(command.help);
      return EXIT.ok;
    }
    return await command.run(rest, io);
  } catch (error) {
    const report = reportOf(error);
    const prefix =
      report.code === 'USAGE' ? `reccert${commandName ? ` ${commandName}` : ''}: ` : `${report.code}: `;
    io.err(`${escapeControls(oneLine(`${prefix}${cliWording(report.message)}`))}\n`);
    if (json) {
      const { exitCode: _exitCode, ...body } = report;
      io.out(`${JSON.stringify({ error: body }, null, 2)}\n`);
    }
    if (io.env.RECCERT_DEBUG === '1' && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
    return report.exitCode;
  }
}
