/**
 * Measurement scaffold of bench/coldstart.ts, not shipped: what option 1 of the cold-start
 * comparison (SDK bundled as ESM) puts in place of `@aws-sdk/credential-provider-node` with an
 * esbuild alias, so that the provider chain (SSO, INI files, process, IMDS, ECS, web identity) is
 * not even loaded. Lambda always sets these three variables from the function's role.
 */

/** The shape of the chain's `defaultProvider`: a factory of a credential provider. */
export const defaultProvider =
  () => async (): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }> => {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error('reccert: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them).');
    }
    const sessionToken = process.env.AWS_SESSION_TOKEN;
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  };
