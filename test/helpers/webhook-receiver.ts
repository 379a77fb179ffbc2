/**
 * A real webhook receiver for delivery tests: an HTTP server on loopback that answers 500 while
 * "down", leaves one request unanswered when told to (the sender's timeout), then accepts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../shared/webhook';

/** One request the receiver got, and what it answered. */
export interface ReceivedDelivery {
  deliveryId: string;
  signatureValid: boolean;
  body: string;
  answer: 'failed' | 'timed-out' | 'accepted';
  at: number;
}

export type ReceiverMode = 'down' | 'hang-once' | 'accept';

export interface WebhookReceiver {
  url: string;
  received: ReceivedDelivery[];
  setMode(mode: ReceiverMode): void;
  /** Resolves once `predicate` holds over what was received (polled), or rejects at `timeoutMs`. */
  waitFor(
    predicate: (received: ReceivedDelivery[]) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the receiver, checking each signature with `secret` by an HMAC of the raw body. */
export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  let mode: ReceiverMode = 'down';
  const received: ReceivedDelivery[] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const deliveryId = String(req.headers['x-reccert-delivery'] ?? '');
    const signature = String(req.headers['x-reccert-signature'] ?? '');
    const signatureValid = verifyWebhookSignature(secret, body, signature);
    const entry = { deliveryId, signatureValid, body, at: Date.now() };
    if (mode === 'hang-once') {
      // Never answered: the sender's per-attempt timeout must give up on it.
      mode = 'accept';
      received.push({ ...entry, answer: 'timed-out' });
      return;
    }
    if (mode === 'down') {
      received.push({ ...entry, answer: 'failed' });
      res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver down');
      return;
    }
    received.push({ ...entry, answer: 'accepted' });
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/reccert`,
    received,
    setMode: (m) => {
      mode = m;
    },
    async waitFor(predicate, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(`webhook receiver: ${what} did not happen within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Checks the delivery guarantees over what was received: every expected notice delivered (a 2xx)
 * under one delivery id, every request correctly signed and carrying its id in the body too, and
 * nothing sent for an id after it was accepted. Returns the accepted ids per notice key.
 */
export function deliveryReport(received: ReceivedDelivery[]): {
  badSignatures: number;
  idMismatches: number;
  afterAcceptance: string[];
  acceptedKeys: string[];
  idsPerKey: Record<string, string[]>;
} {
  const acceptedAt = new Map<string, number>();
  const idsPerKey: Record<string, string[]> = {};
  let idMismatches = 0;
  for (const [index, r] of received.entries()) {
    const payload = JSON.parse(r.body) as {
      deliveryId: string;
      notification: { tenantId: string; certificateId: string; thresholdDays: number };
    };
    if (payload.deliveryId !== r.deliveryId) idMismatches++;
    const n = payload.notification;
    const key = `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`;
    const ids = idsPerKey[key] ?? [];
    idsPerKey[key] = ids;
    if (!ids.includes(r.deliveryId)) ids.push(r.deliveryId);
    if (r.answer === 'accepted' && !acceptedAt.has(r.deliveryId)) acceptedAt.set(r.deliveryId, index);
  }
  const afterAcceptance = received
    .filter((r, index) => {
      const acceptedIndex = acceptedAt.get(r.deliveryId);
      return acceptedIndex !== undefined && index > acceptedIndex;
    })
    .map((r) => r.deliveryId);
  const acceptedKeys = Object.entries(idsPerKey)
    .filter(([, ids]) => ids.some((id) => acceptedAt.has(id)))
    .map(([key]) => key)
    .sort();
  return {
    badSignatures: received.filter((r) => !r.signatureValid).length,
    idMismatches,
    afterAcceptance,
    acceptedKeys,
    idsPerKey,
  };
}
