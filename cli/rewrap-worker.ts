/**
 * A worker thread of `reccert rewrap` folder mode: loads the key once (handed over by the main
 * thread as PKCS#8 DER), then rewraps each file it is sent, atomically, and answers with the
 * outcome. Started by `rewrap-workers.ts`.
 */
import { createPrivateKey } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { PrivateKeyUnwrapper, rewrapFile } from '../shared/recording';
import { reportOf } from './errors';

/** What the main thread hands each worker. */
export interface RewrapWorkerData {
  /** The private key, PKCS#8 DER (never leaves the process). */
  keyDer: Uint8Array;
  certificate?: string;
  to: string[];
  keepRecipients: boolean;
}

/** One job, and its answer. */
export interface RewrapJob {
  id: number;
  inPath: string;
  outPath: string;
}
export type RewrapOutcome =
  | { id: number; ok: true; bytes: number }
  | { id: number; ok: false; code: string; message: string };

const data = workerData as RewrapWorkerData;
const unwrapper = new PrivateKeyUnwrapper({
  privateKey: createPrivateKey({ key: Buffer.from(data.keyDer), format: 'der', type: 'pkcs8' }),
  ...(data.certificate === undefined ? {} : { certificate: data.certificate }),
});
const options = {
  to: data.to,
  keepRecipients: data.keepRecipients,
  ...(data.certificate === undefined ? {} : { certificates: [data.certificate] }),
};

parentPort!.on('message', (job: RewrapJob) => {
  rewrapFile(job.inPath, job.outPath, unwrapper, options).then(
    (result) =>
      parentPort!.postMessage({ id: job.id, ok: true, bytes: result.bytesOut } satisfies RewrapOutcome),
    (error: unknown) => {
      const report = reportOf(error);
      parentPort!.postMessage({
        id: job.id,
        ok: false,
        code: report.code,
        message: report.message,
      } satisfies RewrapOutcome);
    },
  );
});
