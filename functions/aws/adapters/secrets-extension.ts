/**
 * Reads a Secrets Manager secret through the AWS Parameters and Secrets Lambda Extension (a layer
 * the stack adds to the functions that need a secret): an HTTP call to the extension on
 * localhost, authenticated with the function's session token. No SDK client is bundled for it
 * (the project ships none for Secrets Manager), and the secret never sits in the function's
 * environment or the template, only in memory.
 */

/** The extension's default port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` changes it). */
const DEFAULT_PORT = '2773';

/** The `SecretString` of `secretId` (name or ARN). Failures name the secret and the status only. */
export async function secretFromExtension(
  secretId: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 5000,
): Promise<string> {
  const port = env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT || DEFAULT_PORT;
  const url = `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { 'X-Aws-Parameters-Secrets-Token': env.AWS_SESSION_TOKEN ?? '' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new Error(
      `reccert: the secret ${secretId} could not be read from the Lambda extension (${String((error as Error).message)}).`,
    );
  }
  if (!response.ok) {
    // The body is not quoted: an error page is no place for a secret, but it is not ours to echo.
    await response.body?.cancel().catch(() => undefined);
    throw new Error(
      `reccert: the secret ${secretId} could not be read (HTTP ${response.status} from the Lambda extension).`,
    );
  }
  const body = (await response.json()) as { SecretString?: unknown };
  if (typeof body.SecretString !== 'string' || body.SecretString === '') {
    throw new Error(
      `reccert: the secret ${secretId} has no SecretString (store the webhook secret as text).`,
    );
  }
  return body.SecretString;
}
