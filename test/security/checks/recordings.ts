/**
 * Threat model, "recordings from outside": a caller controls every byte of a recording it sends
 * and when it hangs up. Every decrypt outcome leaves exactly one audit entry (rule 11/13,
 * regression class of #4), and a recording tampered in any region answers a 4xx with no
 * plaintext byte (rule 13, regression class of #5): recordings made by the project's encryptor
 * and by the openssl CLI (DER and streamed BER).
 */
import { randomUUID } from 'node:crypto';
import { routes } from '../../../shared/http/routes';
import type { Ctx } from '../context';
import { eventually, pathOf, rawPartial } from '../harness';
import {
  flip,
  foreignCertificates,
  opensslRecording,
  patternedPlaintext,
  recording,
  tamperRegions,
  withRecipients,
} from '../material';

const decryptRoute = () => routes.find((r) => r.operationId === 'decryptRecording')!;

/** Whether `body` carries any 32-byte piece of `plaintext` (at its 32-byte boundaries). */
function leaksPlaintext(body: Buffer, plaintext: Buffer): boolean {
  if (body.length === 0) return false;
  for (let off = 0; off + 32 <= plaintext.length; off += 32)
    if (body.includes(plaintext.subarray(off, off + 32))) return true;
  return false;
}

export function recordingChecks(get: () => Ctx): void {
  describe('audit of every decrypt outcome (threat model: recordings, rule 11/13)', () => {
    let admin: string;
    const path = () => pathOf(decryptRoute(), get().values);

    beforeAll(async () => {
      const ctx = get();
      await ctx.t.ensureUp('before audit checks');
      admin = await ctx.t.token([ctx.tenant], ['admin']);
    });

    async function entriesOf(subject: string) {
      const ctx = get();
      const reply = await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/audit?limit=100`, { token: admin });
      // biome-ignore lint/suspicious/noExplicitAny: audit entries are read field by field
      return ((reply.json?.items ?? []) as any[]).filter(
        (e) => e.action === 'recording.decrypt' && e.actor === subject,
      );
    }

    /** Exactly one entry appears for `subject` and no second one follows. */
    async function expectOneEntry(subject: string, code?: string) {
      const entries = await eventually(
        () => entriesOf(subject),
        (e) => e.length >= 1,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      const settled = await entriesOf(subject);
      expect({ subject, entries: settled.length }).toEqual({ subject, entries: 1 });
      if (code) expect(JSON.stringify(entries[0])).toContain(code);
    }

    const outcomes: [string, number, string | undefined, (ctx: Ctx) => Promise<Buffer>][] = [
      ['decrypted', 200, undefined, async (ctx) => ctx.recording],
      ['NOT_CMS', 400, 'NOT_CMS', async () => Buffer.from('RIFF....WAVEfmt not a recording at all')],
      [
        'NO_MATCHING_KEY',
        422,
        'NO_MATCHING_KEY',
        async (ctx) => recording(ctx.plaintext, foreignCertificates(1)),
      ],
      [
        'INTEGRITY_CHECK_FAILED',
        422,
        'INTEGRITY_CHECK_FAILED',
        async (ctx) => {
          const tag = tamperRegions(ctx.recording).find((r) => r.name === 'tag')!;
          return flip(ctx.recording, tag.offset);
        },
      ],
      ['TOO_MANY_RECIPIENTS', 400, 'TOO_MANY_RECIPIENTS', async (ctx) => withRecipients(ctx.recording, 17)],
    ];

    it.each(outcomes)('%s leaves exactly one audit entry', async (_name, status, code, make) => {
      const ctx = get();
      const subject = `audit-${randomUUID().slice(0, 8)}`;
      const token = await ctx.t.token([ctx.tenant], ['decrypt'], subject);
      const reply = await ctx.t.request('POST', path(), {
        token,
        contentType: 'application/cms',
        body: await make(ctx),
      });
      expect({ status: reply.status, code: reply.json?.error?.code }).toEqual({ status, code });
      await expectOneEntry(subject, code);
    });

    it('a client that sends the whole recording and hangs up without reading leaves exactly one audit entry', async () => {
      const ctx = get();
      const subject = `audit-${randomUUID().slice(0, 8)}`;
      const token = await ctx.t.token([ctx.tenant], ['decrypt'], subject);
      const big = await recording(patternedPlaintext(512 * 1024, 'hang-up'), [ctx.pair.certPem]);
      const e = await rawPartial(
        ctx.t,
        'POST',
        path(),
        {
          authorization: `Bearer ${token}`,
          'content-type': 'application/cms',
          'content-length': String(big.length),
        },
        big,
      );
      e.socket.destroy();
      await expectOneEntry(subject);
    });
  });
}

/** The streaming runtime (local): hang-ups mid-body reach the service itself. */
export function streamedAuditChecks(get: () => Ctx): void {
  describe('audit when the client hangs up mid-recording (local server streams bodies)', () => {
    it('regression #4: all but the last 20 bytes of a recording, read, hang up: no plaintext byte and exactly one audit entry', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before hang-up');
      const admin = await ctx.t.token([ctx.tenant], ['admin']);
      const subject = `audit-${randomUUID().slice(0, 8)}`;
      const token = await ctx.t.token([ctx.tenant], ['decrypt'], subject);
      const plaintext = patternedPlaintext(5 * 1024 * 1024, 'regression-4');
      const rec = await recording(plaintext, [ctx.pair.certPem]);
      const e = await rawPartial(
        ctx.t,
        'POST',
        pathOf(decryptRoute(), ctx.values),
        {
          authorization: `Bearer ${token}`,
          'content-type': 'application/cms',
          'content-length': String(rec.length),
        },
        rec.subarray(0, rec.length - 20),
      );
      await new Promise((r) => setTimeout(r, 1_500));
      const received = Buffer.from(e.response(), 'latin1');
      e.socket.destroy();
      expect(leaksPlaintext(received, plaintext)).toBe(false);
      const entries = await eventually(
        async () => {
          const reply = await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/audit?limit=100`, {
            token: admin,
          });
          // biome-ignore lint/suspicious/noExplicitAny: audit entries are read field by field
          return ((reply.json?.items ?? []) as any[]).filter(
            (x) => x.action === 'recording.decrypt' && x.actor === subject,
          );
        },
        (x) => x.length >= 1,
        10_000,
      );
      expect(entries.length).toBe(1);
    });
  });
}

export function tamperChecks(get: () => Ctx): void {
  describe('tampered recordings (threat model: recordings, rule 13)', () => {
    const plaintext = patternedPlaintext(256 * 1024, 'tamper-api');
    const sources: Record<string, Buffer> = {};

    beforeAll(async () => {
      const ctx = get();
      await ctx.t.ensureUp('before tamper checks');
      sources.ours = await recording(plaintext, [ctx.pair.certPem]);
      sources['openssl DER'] = await opensslRecording(ctx.pair, plaintext, false);
      sources['openssl streamed BER'] = await opensslRecording(ctx.pair, plaintext, true);
    });

    it('regression #5: a 5 MiB recording with a flipped tag or content byte is a 422 with no plaintext byte', async () => {
      const ctx = get();
      const large = patternedPlaintext(5 * 1024 * 1024, 'tamper-5mib');
      const cms = await recording(large, [ctx.pair.certPem]);
      const token = await ctx.t.token([ctx.tenant], ['decrypt']);
      const problems: string[] = [];
      for (const region of tamperRegions(cms).filter((r) => r.name === 'tag' || r.name === 'content')) {
        const reply = await ctx.t.request('POST', pathOf(decryptRoute(), ctx.values), {
          token,
          contentType: 'application/cms',
          body: flip(cms, region.offset),
        });
        if (reply.status !== 422 || reply.json?.error?.code !== 'INTEGRITY_CHECK_FAILED')
          problems.push(`${region.name}: ${reply.status} ${reply.json?.error?.code ?? ''}`);
        if (leaksPlaintext(reply.body, large))
          problems.push(`${region.name}: ${reply.body.length} bytes answered, plaintext among them`);
      }
      expect(problems).toEqual([]);
    });

    it.each(['ours', 'openssl DER', 'openssl streamed BER'])(
      'regression #5: %s — a flipped byte in every region is a 4xx with no plaintext byte; the untouched one decrypts',
      async (source) => {
        const ctx = get();
        const cms = sources[source]!;
        const token = await ctx.t.token([ctx.tenant], ['decrypt']);
        const send = (body: Buffer) =>
          ctx.t.request('POST', pathOf(decryptRoute(), ctx.values), {
            token,
            contentType: 'application/cms',
            body,
          });
        const intact = await send(cms);
        expect(intact.status).toBe(200);
        expect(intact.body.equals(plaintext)).toBe(true);
        const problems: string[] = [];
        for (const region of tamperRegions(cms)) {
          const reply = await send(flip(cms, region.offset));
          const code = reply.json?.error?.code as string | undefined;
          if (reply.status < 400 || reply.status >= 500 || !code || !region.codes.includes(code))
            problems.push(`${region.name}: ${reply.status} ${code ?? ''} (want ${region.codes.join('|')})`);
          if (leaksPlaintext(reply.body, plaintext))
            problems.push(`${region.name}: ${reply.body.length} bytes answered, plaintext among them`);
        }
        expect(problems).toEqual([]);
      },
    );
  });
}
