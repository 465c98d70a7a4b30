import { KvwireError } from '../errors.js';

/** A mistake in the command line: printed with the command's help, exit status 2. */
export class UsageError extends Error {
  constructor(message: string, readonly help: string) {
    super(message);
  }
}

export const usageError = (message: string, help: string) => new UsageError(message, help);

/** Prints an error for a person (no stack trace for user errors) and returns the exit status. */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`kvwire: ${e.message}\n\n${e.help}\n`);
    return 2;
  }
  if (e instanceof KvwireError) {
    process.stderr.write(`kvwire: error [${e.code}]: ${e.message}\n`);
    return 1;
  }
  if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`kvwire: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`kvwire: internal error: ${(e as Error)?.stack ?? e}\n`);
  return 70;
}
