/**
 * Argument parsing on `node:util` parseArgs (strict: unknown options are usage errors), plus
 * the value checks every command shares.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Parses `argv` for `command`; every parse failure becomes a one-line UsageError. */
export function parseCommandArgs(command: string, argv: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), command);
  }
}

/** parseArgs messages are long and mention internals; keep the useful part. */
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return `unknown option ${option ?? ''}`.trim();
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /Option '(?:-\w, )?(--[\w-]+)/.exec(message)?.[1];
    if (!option) return message.split('\n')[0]!;
    return /ambiguous/.test(message)
      ? `option ${option}: write a value that starts with '-' as ${option}=VALUE`
      : `option ${option} needs a value`;
  }
  return message.split('\n')[0]!;
}

/** A string option's value (the last one if repeated). */
export function str(parsed: Parsed, name: string): string | undefined {
  const value = parsed.values[name];
  if (Array.isArray(value)) return value.at(-1) as string | undefined;
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a repeatable string option. */
export function strs(parsed: Parsed, name: string): string[] {
  const value = parsed.values[name];
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}

export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

/** A required string option. */
export function required(parsed: Parsed, name: string, command: string): string {
  const value = str(parsed, name);
  if (value === undefined) throw new UsageError(`missing --${name}`, command);
  return value;
}

/** A decimal integer within [min, max], or one of `allowed`. */
export function intOption(
  parsed: Parsed,
  name: string,
  command: string,
  range: { min: number; max: number; allowed?: readonly number[]; fallback: number },
): number {
  const raw = str(parsed, name);
  if (raw === undefined) return range.fallback;
  const describe = range.allowed ? range.allowed.join(', ') : `${range.min} to ${range.max}`;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    throw new UsageError(`--${name} must be a whole number (${describe}), not '${raw}'`, command);
  }
  const value = Number(raw.trim());
  const ok = range.allowed ? range.allowed.includes(value) : value >= range.min && value <= range.max;
  if (!ok)
    throw new UsageError(
      `--${name} must be ${range.allowed ? 'one of ' : ''}${describe}; got ${value}`,
      command,
    );
  return value;
}

/** Exactly `min`..`max` positional arguments, named for the error message. */
export function positionals(parsed: Parsed, command: string, names: string[], min: number): string[] {
  const given = parsed.positionals;
  if (given.length < min) {
    throw new UsageError(`missing ${names.slice(given.length, min).join(' and ')}`, command);
  }
  if (given.length > names.length) {
    throw new UsageError(`unexpected argument '${given[names.length]}'`, command);
  }
  return given;
}
