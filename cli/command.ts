/** What every `reccert` command module exports. */
import type { Io } from './io';

export interface CommandModule {
  /** Full text of `reccert <name> --help`. */
  help: string;
  /** Runs the command with its arguments (after the command name); resolves to the exit code. */
  run(argv: string[], io: Io): Promise<number>;
}
