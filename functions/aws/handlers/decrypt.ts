/**
 * PLACEHOLDER so that `cdk synth` has an entry to bundle; the lead replaces it with the real
 * decrypt handler (thin: translate the event, call the use case, translate the result).
 */
export async function handler(): Promise<never> {
  throw new Error('reccert: the decrypt handler is not implemented yet.');
}
