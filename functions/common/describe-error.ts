/** Error text for logs: name and message only (never request bodies or key material). */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
