/**
 * A one-line progress bar on stderr for long jobs (encrypting and decrypting recordings): bytes,
 * rate and time left. Drawn only when stderr is a terminal, so logs and pipes stay clean.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Io } from './io';

const REDRAW_MS = 100;
const MiB = 1024 * 1024;

export interface ProgressState {
  label: string;
  bytes: number;
  /** Total bytes, when known (a file); unknown for standard input. */
  total: number | undefined;
  elapsedMs: number;
  columns: number;
}

function size(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / (1024 * MiB)).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** The text of one progress line, fitted to `columns` (the bar shrinks first, then goes). */
export function formatProgress(state: ProgressState): string {
  const seconds = state.elapsedMs / 1000;
  const rate = seconds > 0 ? state.bytes / seconds : 0;
  const rateText = `${(rate / 1e6).toFixed(0)} MB/s`;
  const known = state.total !== undefined && state.total > 0;
  const fraction = known ? Math.min(1, state.bytes / state.total!) : undefined;
  const amount = known ? `${size(state.bytes)} / ${size(state.total!)}` : size(state.bytes);
  const left =
    known && rate > 0 ? `${clock((state.total! - state.bytes) / rate)} left` : `${clock(seconds)} elapsed`;
  const percent = fraction === undefined ? '' : ` ${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const text = `${state.label} ${amount}${percent}  ${rateText}  ${left}`;
  const room = state.columns - text.length - 4;
  if (fraction === undefined || room < 10) return text.slice(0, Math.max(0, state.columns - 1));
  const width = Math.min(30, room);
  const filled = Math.round(fraction * width);
  return `${text.slice(0, state.label.length)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${text.slice(state.label.length)}`;
}

/** Counts the bytes that pass and redraws the bar at most every 100 ms; a no-op when not drawn. */
export class ProgressMeter extends Transform {
  private bytes = 0;
  private lastDraw = 0;
  private readonly started: number;

  constructor(
    private readonly io: Io,
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.started = now();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.update(this.bytes + chunk.length);
    callback(null, chunk);
  }

  /** Sets the bytes done so far, for jobs that report progress instead of streaming through. */
  update(bytes: number): void {
    this.bytes = bytes;
    const t = this.now();
    if (this.io.stderrTerminal && t - this.lastDraw >= REDRAW_MS) {
      this.lastDraw = t;
      this.draw(t);
    }
  }

  /** Draws the final state and moves to a new line (call once the job succeeded). */
  finish(): void {
    if (this.io.stderrTerminal) {
      this.draw(this.now());
      this.io.err('\n');
    }
  }

  /** Clears the line (call when the job failed, before the error is printed). */
  clear(): void {
    if (this.io.stderrTerminal) this.io.err('\r\x1b[2K');
  }

  private draw(t: number): void {
    const columns = this.io.stderrTerminal?.columns ?? 80;
    const line = formatProgress({
      label: this.label,
      bytes: this.bytes,
      total: this.total,
      elapsedMs: t - this.started,
      columns,
    });
    this.io.err(`\r${line}\x1b[K`);
  }
}
