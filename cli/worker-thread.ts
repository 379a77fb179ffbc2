/**
 * Starting a worker thread of the CLI, one way for every command that uses them (rewrap and
 * verify-recordings folder modes). From the TypeScript sources (`bin/reccert.js` runs them
 * through tsx, tests through their own transform) a worker thread has none of the main thread's
 * loaders, so it registers tsx itself before loading the .ts file; from compiled JavaScript the
 * sibling .js file is loaded as it is.
 */
import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the worker module `name` (without extension) of the folder `dir`, in whichever layout
 * the calling module runs (`fromTypeScript`: the caller's `__filename` ends in `.ts`).
 */
export function startWorkerThread(
  dir: string,
  name: string,
  fromTypeScript: boolean,
  options: WorkerOptions,
): Worker {
  if (fromTypeScript) {
    // An eval'd worker resolves modules from the working directory: both paths are absolute.
    const loader = require.resolve('tsx/cjs');
    const entry = join(dir, `${name}.ts`);
    return new Worker(`require(${JSON.stringify(loader)});\nrequire(${JSON.stringify(entry)});`, {
      ...options,
      eval: true,
    });
  }
  return new Worker(join(dir, `${name}.js`), options);
}
