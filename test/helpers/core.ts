/** Core dependencies for use-case tests: the real local adapters, a settable clock. */
import { randomBytes, randomUUID } from 'node:crypto';
import { InProcessEventQueue } from '../../functions/local/event-queue';
import { FileKeystore } from '../../functions/local/file-keystore';
import { SqliteCertificateRepository } from '../../functions/local/sqlite-repository';
import { DEFAULT_THRESHOLDS_DAYS } from '../../shared/domain/expiry';
import type { DomainEvent, UploadFlow } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import type { CoreDeps } from '../../shared/usecases/deps';
import { FIXED_NOW, tempDir } from './pki';

export interface TestCore {
  deps: CoreDeps;
  repo: SqliteCertificateRepository;
  keystore: FileKeystore;
  events: InProcessEventQueue;
  published: DomainEvent[];
  clock: { now(): Date; set(d: Date): void };
  close(): void;
}

export function testCore(options: { flow?: UploadFlow; thresholds?: number[]; now?: Date } = {}): TestCore {
  let now = options.now ?? FIXED_NOW;
  const clock = {
    now: () => new Date(now),
    set: (d: Date) => {
      now = d;
    },
  };
  const logger = jsonLogger('silent');
  const repo = new SqliteCertificateRepository(':memory:');
  const keystore = new FileKeystore(tempDir(), randomBytes(32));
  const events = new InProcessEventQueue(logger);
  const published: DomainEvent[] = [];
  events.observe((e) => published.push(e));
  const deps: CoreDeps = {
    repo,
    escrow: repo,
    custody: keystore,
    events,
    clock,
    ids: { newId: randomUUID },
    logger,
    config: {
      flow: options.flow ?? 'aws',
      expiryThresholdsDays: options.thresholds ?? [...DEFAULT_THRESHOLDS_DAYS],
      defaultIvrProfile: 'record',
    },
  };
  return { deps, repo, keystore, events, published, clock, close: () => repo.close() };
}
