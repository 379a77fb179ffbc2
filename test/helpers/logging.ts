/** A logger for tests that keeps every line it writes, to check what reached the log. */
import { jsonLogger } from '../../shared/logging';
import type { Logger } from '../../shared/ports';

/** A line of the log, parsed: its level, its message and its fields. */
export interface LogRecord {
  level: string;
  message: string;
  [field: string]: unknown;
}

/**
 * The service's own JSON logger at debug level, writing into `lines` (raw, for a scan of
 * everything logged); `records()` parses them.
 */
export function capturingLogger(lines: string[] = []): {
  logger: Logger;
  lines: string[];
  records: () => LogRecord[];
} {
  return {
    logger: jsonLogger('debug', (line) => lines.push(line)),
    lines,
    records: () => lines.map((line) => JSON.parse(line) as LogRecord),
  };
}
