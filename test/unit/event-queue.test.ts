import { InProcessEventQueue } from '../../functions/local/event-queue';
import type { DomainEvent } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';

function event(id: string): DomainEvent {
  return {
    id,
    type: 'IvrAssignmentRequested',
    tenantId: 'acme',
    occurredAt: '2026-06-01T00:00:00.000Z',
    data: { profileId: 'record', certificateId: 'c1', requestId: id },
  };
}

describe('InProcessEventQueue', () => {
  it('retries a failing consumer, then hands the event to its give-up handler once and dead-letters it', async () => {
    const queue = new InProcessEventQueue(jsonLogger('error', () => undefined));
    let attempts = 0;
    const gaveUp: Array<{ id: string; reason: string }> = [];
    queue.subscribe(
      'IvrAssignmentRequested',
      async () => {
        attempts++;
        throw new Error('store down');
      },
      async (e, reason) => {
        gaveUp.push({ id: e.id, reason });
      },
    );

    await queue.publish([event('e1')]);
    await queue.idle();

    expect(attempts).toBe(5);
    expect(gaveUp).toEqual([{ id: 'e1', reason: 'not applied after 5 attempts' }]);
    expect(queue.deadLetters.map((e) => e.id)).toEqual(['e1']);
  });

  it('does not give up on an event a retry delivered', async () => {
    const queue = new InProcessEventQueue(jsonLogger('error', () => undefined));
    let attempts = 0;
    const gaveUp: string[] = [];
    queue.subscribe(
      'IvrAssignmentRequested',
      async () => {
        attempts++;
        if (attempts < 3) throw new Error('throttled');
      },
      async (e) => {
        gaveUp.push(e.id);
      },
    );

    await queue.publish([event('e2')]);
    await queue.idle();

    expect(attempts).toBe(3);
    expect(gaveUp).toEqual([]);
    expect(queue.deadLetters).toEqual([]);
  });

  it('keeps running when the give-up handler itself fails', async () => {
    const queue = new InProcessEventQueue(jsonLogger('error', () => undefined));
    queue.subscribe(
      'IvrAssignmentRequested',
      async () => {
        throw new Error('store down');
      },
      async () => {
        throw new Error('still down');
      },
    );

    await queue.publish([event('e3')]);
    await queue.idle();

    expect(queue.deadLetters.map((e) => e.id)).toEqual(['e3']);
  });
});
