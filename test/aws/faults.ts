/**
 * Failure injection for the failure-path tests (DESIGN section 8: mocks only for failure paths):
 * a view of a real SDK client whose `send` fails at a chosen command and passes everything else
 * to the real client (moto).
 */

/** An AWS-style throttling error, as the SDK raises it. */
export function throttlingError(): Error {
  const error = new Error('Rate exceeded') as Error & { $metadata: object; $fault: string };
  error.name = 'ThrottlingException';
  error.$fault = 'client';
  error.$metadata = { httpStatusCode: 400 };
  return error;
}

/**
 * Returns a client that throws `error()` when a command of class `commandName` is sent (the
 * `times` first such sends after the `after` first, which pass; all of them by default),
 * counting the calls it saw.
 */
export function failingAt<C extends { send: (...args: never[]) => unknown }>(
  client: C,
  commandName: string,
  options: { error?: () => Error; times?: number; after?: number } = {},
): C & { sent: string[] } {
  const sent: string[] = [];
  let failuresLeft = options.times ?? Number.POSITIVE_INFINITY;
  let passesLeft = options.after ?? 0;
  const send = async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    const name = command.constructor.name;
    sent.push(name);
    if (name === commandName && passesLeft > 0) passesLeft--;
    else if (name === commandName && failuresLeft > 0) {
      failuresLeft--;
      throw (options.error ?? throttlingError)();
    }
    return (client.send as (...args: unknown[]) => unknown).call(client, command, ...rest);
  };
  return Object.assign(Object.create(client) as C, { send, sent });
}
