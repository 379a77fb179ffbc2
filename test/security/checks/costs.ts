/**
 * Threat model, "cost": what one request may make the service spend. Each limit of DESIGN
 * section 9 at the limit and just past it, with health probed meanwhile (within 1 s).
 */
import { routes } from '../../../shared/http/routes';
import { type Ctx, MULTIPART_TYPE, multipart, tokenFor } from '../context';
import { HEALTH_BUDGET_MS, pathOf } from '../harness';
import {
  certificateWithModulus,
  foreignCertificates,
  KDF_KEYS,
  kdfMaterial,
  recording,
  withRecipients,
} from '../material';

const LIMIT = 64 * 1024;
const UPLOAD_SHAPED = routes.filter((r) => r.body?.multipart);

/** A JSON body of exactly `size` bytes: `value` padded with trailing whitespace. */
function paddedJson(value: unknown, size: number): Buffer {
  const text = JSON.stringify(value);
  if (text.length > size) throw new Error('sample larger than the padding target');
  return Buffer.from(text + ' '.repeat(size - text.length));
}

export function costChecks(get: () => Ctx): void {
  describe('cost limits (threat model: work per request)', () => {
    beforeAll(async () => {
      await get().t.ensureUp('before cost checks');
    });

    describe.each(UPLOAD_SHAPED.map((r) => [`${r.method} ${r.path}`, r] as const))(
      'body size of %s',
      (_label, route) => {
        it('takes a 64 KiB body and refuses 64 KiB + 1 (JSON and multipart) and 4 MiB with 413 PAYLOAD_TOO_LARGE', async () => {
          const ctx = get();
          const token = await tokenFor(ctx, route);
          const path = pathOf(route, ctx.values);
          const value: Record<string, string> =
            route.operationId === 'verifyKey'
              ? { privateKey: ctx.pair.keyPem }
              : { certificate: ctx.pair.certPem, privateKey: ctx.pair.keyPem };
          const at = await ctx.t.request(route.method, path, {
            token,
            contentType: 'application/json',
            body: paddedJson(value, LIMIT),
          });
          expect({ status: at.status, code: at.json?.error?.code }).not.toEqual(
            expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }),
          );
          expect(at.status).toBeGreaterThanOrEqual(200);
          expect(at.status).toBeLessThan(500);
          const over = [
            { contentType: 'application/json', body: paddedJson(value, LIMIT + 1) },
            {
              contentType: MULTIPART_TYPE,
              body: multipart({ ...value, privateKeyPassword: ' '.repeat(LIMIT) }),
            },
            { contentType: 'application/json', body: paddedJson(value, 4 * 1024 * 1024) },
          ];
          for (const sample of over) {
            const { result, slowestHealthMs } = await ctx.t.probed(() =>
              ctx.t.request(route.method, path, { token, ...sample }),
            );
            expect({
              size: sample.body.length,
              status: result.status,
              code: result.json?.error?.code,
            }).toEqual({
              size: sample.body.length,
              status: 413,
              code: 'PAYLOAD_TOO_LARGE',
            });
            expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
          }
        });
      },
    );

    describe('PEM scanning (DESIGN 9: linear in the input)', () => {
      /** `unit` repeated to fill `room` bytes of a JSON body (escapes counted). */
      const filler = (unit: string, room: number) =>
        unit.repeat(Math.floor(room / (JSON.stringify(unit).length - 2)));
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

      it.each([
        ['-----BEGIN A-----'],
        ['-----BEGIN CERTIFICATE-----\n'],
        ['-----END A-----\n-----BEGIN A-----'],
      ])(
        'regression #10: a 64 KiB body of repeated %j costs about what 64 KiB of plain text does',
        async (unit) => {
          const ctx = get();
          const problems: string[] = [];
          for (const route of UPLOAD_SHAPED) {
            const token = await tokenFor(ctx, route);
            // The real key beside the certificate, so whichever field is read first, the filler is scanned.
            const key = route.operationId === 'verifyKey' ? {} : { privateKey: ctx.pair.keyPem };
            const room = LIMIT - JSON.stringify(key).length - 100;
            const field = route.operationId === 'verifyKey' ? 'privateKey' : 'certificate';
            const send = async (text: string) => {
              const reply = await ctx.t.request(route.method, pathOf(route, ctx.values), {
                token,
                contentType: 'application/json',
                body: JSON.stringify({ [field]: text, ...key }),
              });
              if (reply.status !== 400 || !route.errors.includes(reply.json?.error?.code))
                problems.push(`${route.operationId}: ${reply.status} ${reply.json?.error?.code ?? ''}`);
              return reply.ms;
            };
            // Medians of alternating runs, so a busy machine slows both alike.
            const plain: number[] = [];
            const hostile: number[] = [];
            for (let i = 0; i < 5; i++) {
              plain.push(await send(filler('A', room)));
              hostile.push(await send(filler(unit, room)));
            }
            // Linear scanning adds about a millisecond; the quadratic scan of #10 added 100 ms to 1 s.
            if (median(hostile) - median(plain) > 40)
              problems.push(
                `${route.operationId}: ${median(hostile)} ms against ${median(plain)} ms for plain text`,
              );
          }
          expect(problems).toEqual([]);
        },
      );
    });

    describe('key-derivation cost of an encrypted private key (regression class of #6)', () => {
      it.each(KDF_KEYS.map((k) => [k.what, k] as const))('%s', async (_what, k) => {
        const ctx = get();
        const material = kdfMaterial();
        const route = routes.find((r) => r.operationId === 'previewCertificate')!;
        const token = await tokenFor(ctx, route);
        const { result, slowestHealthMs } = await ctx.t.probed(() =>
          ctx.t.request(route.method, pathOf(route, ctx.values), {
            token,
            contentType: 'application/json',
            body: JSON.stringify({
              certificate: material.certPem,
              privateKey: material.keys.get(k.name),
              privateKeyPassword: 'pw',
            }),
          }),
        );
        if (k.withinLimits) {
          expect({ status: result.status, code: result.json?.error?.code }).toEqual({
            status: 200,
            code: undefined,
          });
        } else {
          expect({ status: result.status, code: result.json?.error?.code }).toEqual({
            status: 400,
            code: 'UNSUPPORTED_KEY_ENCRYPTION',
          });
          // The message tells the caller how to re-encrypt the key.
          expect(result.json.error.message).toMatch(/openssl/);
        }
        expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
      });

      it('refuses a past-the-limit key on verify-key too, without stalling health', async () => {
        const ctx = get();
        const route = routes.find((r) => r.operationId === 'verifyKey')!;
        const { result, slowestHealthMs } = await ctx.t.probed(async () =>
          ctx.t.request(route.method, pathOf(route, ctx.values), {
            token: await tokenFor(ctx, route),
            contentType: 'application/json',
            body: JSON.stringify({
              privateKey: kdfMaterial().keys.get('scrypt-p200'),
              privateKeyPassword: 'pw',
            }),
          }),
        );
        expect({ status: result.status, code: result.json?.error?.code }).toEqual({
          status: 400,
          code: 'UNSUPPORTED_KEY_ENCRYPTION',
        });
        expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
      });
    });

    describe('RSA key size (DESIGN 9: 16384 bits)', () => {
      it.each([
        [16385, true],
        [65536, true],
        [16384, false],
      ] as const)(
        'a certificate with a %d-bit modulus is refused with KEY_TOO_LARGE: %s (health within 1 s)',
        async (bits, tooLarge) => {
          const ctx = get();
          const { certPem } = certificateWithModulus(bits);
          const route = routes.find((r) => r.operationId === 'previewCertificate')!;
          const { result, slowestHealthMs } = await ctx.t.probed(async () =>
            ctx.t.request(route.method, pathOf(route, ctx.values), {
              token: await tokenFor(ctx, route),
              contentType: 'application/json',
              body: JSON.stringify({ certificate: certPem, privateKey: ctx.pair.keyPem }),
            }),
          );
          const code = result.json?.error?.code;
          expect(result.status).toBeGreaterThanOrEqual(400);
          expect(result.status).toBeLessThan(500);
          if (tooLarge) expect(code).toBe('KEY_TOO_LARGE');
          // At the limit the size is fine; this modulus has no key, so something else refuses it.
          else expect(code).not.toBe('KEY_TOO_LARGE');
          expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
        },
      );
    });

    describe('recipients per recording (DESIGN 9: 16, at most 4 RSA operations; regression class of #7)', () => {
      const decryptRoute = () => routes.find((r) => r.streamBody)!;
      async function decrypt(ctx: Ctx, body: Buffer) {
        const route = decryptRoute();
        return ctx.t.probed(async () =>
          ctx.t.request(route.method, pathOf(route, ctx.values), {
            token: await tokenFor(ctx, route),
            contentType: 'application/cms',
            body,
          }),
        );
      }

      it.each([17, 1000])(
        'refuses %d recipients naming the tenant certificate with TOO_MANY_RECIPIENTS, quickly',
        async (count) => {
          const ctx = get();
          const { result, slowestHealthMs } = await decrypt(ctx, withRecipients(ctx.recording, count));
          expect({ status: result.status, code: result.json?.error?.code }).toEqual({
            status: 400,
            code: 'TOO_MANY_RECIPIENTS',
          });
          expect(result.ms).toBeLessThan(2_000);
          expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
        },
      );

      it('16 recipients naming the tenant certificate with random wrapped keys: a quick 4xx, never 16 RSA operations', async () => {
        const ctx = get();
        const { result, slowestHealthMs } = await decrypt(ctx, withRecipients(ctx.recording, 16));
        expect(result.status).toBeGreaterThanOrEqual(400);
        expect(result.status).toBeLessThan(500);
        expect(['NO_MATCHING_KEY', 'INTEGRITY_CHECK_FAILED', 'TOO_MANY_RECIPIENTS']).toContain(
          result.json?.error?.code,
        );
        expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
      });

      it('decrypts a recording with 16 recipients (15 foreign certificates and the tenant) at the limit', async () => {
        const ctx = get();
        const rec = await recording(ctx.plaintext, [...foreignCertificates(15), ctx.pair.certPem]);
        const { result, slowestHealthMs } = await decrypt(ctx, rec);
        expect(result.status).toBe(200);
        expect(result.body.equals(ctx.plaintext)).toBe(true);
        expect(slowestHealthMs).toBeLessThan(HEALTH_BUDGET_MS);
      });
    });
  });
}
