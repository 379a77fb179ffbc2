/**
 * The worker pool of `reccert rewrap` folder mode: one worker thread per core (or `--jobs`),
 * each fed the next file as soon as it answers. Workers start in whichever layout the CLI runs
 * (cli/worker-thread.ts).
 */
import { oneLine } from './errors';
import type { RewrapJob, RewrapOutcome, RewrapWorkerData } from './rewrap-worker';
import { startWorkerThread } from './worker-thread';

/**
 * Rewraps every job on `threads` workers; `onDone` sees each outcome as it arrives. A worker
 * that dies fails its file (INTERNAL_ERROR) and is replaced.
 */
export async function runRewrapPool(
  jobs: readonly Omit<RewrapJob, 'id'>[],
  threads: number,
  data: RewrapWorkerData,
  onDone: (job: Omit<RewrapJob, 'id'>, outcome: RewrapOutcome) => void,
): Promise<void> {
  let next = 0;
  let running = 0;
  await new Promise<void>((resolve) => {
    const start = (): void => {
      if (next >= jobs.length) {
        if (running === 0) resolve();
        return;
      }
      running++;
      const worker = startWorkerThread(__dirname, 'rewrap-worker', __filename.endsWith('.ts'), {
        workerData: data,
      });
      let current: number | undefined;
      const feed = (): void => {
        if (next >= jobs.length) {
          current = undefined;
          void worker.terminate();
          return;
        }
        current = next++;
        worker.postMessage({ id: current, ...jobs[current]! } satisfies RewrapJob);
      };
      worker.on('message', (outcome: RewrapOutcome) => {
        onDone(jobs[outcome.id]!, outcome);
        feed();
      });
      worker.on('error', (error) => {
        if (current !== undefined) {
          onDone(jobs[current]!, {
            id: current,
            ok: false,
            code: 'INTERNAL_ERROR',
            message: oneLine(error.message),
          });
          current = undefined;
        }
      });
      worker.on('exit', () => {
        running--;
        start();
      });
      feed();
    };
    const count = Math.max(1, Math.min(threads, jobs.length));
    for (let i = 0; i < count; i++) start();
    if (jobs.length === 0) resolve();
  });
}
