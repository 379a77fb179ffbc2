/** Structured JSON log lines. Callers pass only ids, codes and counts: never bodies or keys. */
import type { Logger } from './ports';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger writing one JSON object per line to `write` (stdout by default). */
export function jsonLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  base: Record<string, unknown> = {},
): Logger {
  const emit = (lvl: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...base, ...fields }));
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/**
 * A logger that adds `fields` to every line of `parent` (a request's id and its platform's
 * invocation id). The fields come first, so a call's own field of the same name cannot hide them.
 */
export function withFields(parent: Logger, fields: Record<string, unknown>): Logger {
  return {
    info: (m, f) => parent.info(m, { ...f, ...fields }),
    warn: (m, f) => parent.warn(m, { ...f, ...fields }),
    error: (m, f) => parent.error(m, { ...f, ...fields }),
  };
}
