import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { secretFromExtension } from '../../functions/aws/adapters/secrets-extension';
import { withWebhookSecret } from '../../functions/aws/handlers/webhook-delivery';

// A loopback server speaking the wire shape of the AWS Parameters and Secrets Lambda Extension
// (GET /secretsmanager/get?secretId=..., the session token in X-Aws-Parameters-Secrets-Token,
// the GetSecretValue JSON back): the extension runs only inside Lambda.
let server: Server;
let port: string;
let seen: { url: string; headers: IncomingHttpHeaders }[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = String((server.address() as AddressInfo).port);
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
});

const env = () => ({ PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: port, AWS_SESSION_TOKEN: 'session-token-1' });

describe('secretFromExtension (functions/aws/adapters/secrets-extension.ts)', () => {
  it('asks the extension for the secret with the session token and returns its SecretString', async () => {
    answer = {
      status: 200,
      body: { Name: 'reccert/webhook-secret', SecretString: 'a-signing-key-0123456789' },
    };

    const secret = await secretFromExtension('reccert/webhook-secret', env());

    expect(secret).toBe('a-signing-key-0123456789');
    expect(seen).toEqual([
      {
        url: '/secretsmanager/get?secretId=reccert%2Fwebhook-secret',
        headers: expect.objectContaining({ 'x-aws-parameters-secrets-token': 'session-token-1' }),
      },
    ]);
  });

  it('names the secret and the status when the extension refuses, without quoting its answer', async () => {
    answer = { status: 400, body: { message: 'AccessDeniedException: the-body-text' } };

    const failure = secretFromExtension('reccert/webhook-secret', env());

    await expect(failure).rejects.toThrow(/reccert\/webhook-secret.*HTTP 400/);
    await expect(secretFromExtension('reccert/webhook-secret', env())).rejects.not.toThrow(/the-body-text/);
  });

  it('refuses a binary secret (SecretBinary only), saying to store the key as text', async () => {
    answer = { status: 200, body: { Name: 'x', SecretBinary: 'AAAA' } };

    await expect(secretFromExtension('x', env())).rejects.toThrow(/no SecretString/);
  });
});

describe('withWebhookSecret (functions/aws/handlers/webhook-delivery.ts)', () => {
  it('fills RECCERT_WEBHOOK_SECRET from the named secret when a URL is set', async () => {
    const read = jest.fn(async (id: string) => `secret-of-${id}-0123456789`);

    const out = await withWebhookSecret(
      { RECCERT_WEBHOOK_URL: 'https://hooks.example.com/', RECCERT_WEBHOOK_SECRET_ID: 'reccert/w' },
      read,
    );

    expect(out.RECCERT_WEBHOOK_SECRET).toBe('secret-of-reccert/w-0123456789');
    expect(read).toHaveBeenCalledTimes(1);
  });

  it('reads no secret without a URL (the webhook is off)', async () => {
    const read = jest.fn(async () => 'never');

    const out = await withWebhookSecret(
      { RECCERT_WEBHOOK_URL: '', RECCERT_WEBHOOK_SECRET_ID: 'reccert/w' },
      read,
    );

    expect(out.RECCERT_WEBHOOK_SECRET).toBeUndefined();
    expect(read).not.toHaveBeenCalled();
  });
});
