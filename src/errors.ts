/**
 * The one error type of kvwire. Every failure a user can cause (a missing file, a corrupt
 * tensor, a cache from another model, an absurd budget) is a KvwireError with a `code` that
 * programs can switch on, and a message that names the file, field and expected value.
 */
export type KvwireErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_TRUNCATED'
  | 'BAD_FORMAT'
  | 'BAD_CONFIG'
  | 'UNKNOWN_ARCHITECTURE'
  | 'TENSOR_MISSING'
  | 'TENSOR_SHAPE'
  | 'TENSOR_DTYPE'
  | 'TOKENIZER_MISMATCH'
  | 'BAD_ARGUMENT'
  | 'CACHE_MISMATCH'
  | 'NON_FINITE'
  | 'BUDGET'
  | 'ENGINE'
  | 'DATA_MISSING'
  | 'NO_FUSER'
  | 'CARD_CORRUPT' | 'CARD_SIGNATURE' | 'CARD_UNSUPPORTED' | 'CARD_MODEL' | 'CARD_LIMIT' | 'TRANSPORT';

export class KvwireError extends Error {
  readonly code: KvwireErrorCode;
  /** The file, tensor or field the error is about, when there is one. */
  readonly path?: string;

  constructor(code: KvwireErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KvwireError';
    this.code = code;
    this.path = options.path;
  }
}

/** Throws a KvwireError of the given code unless `condition` holds. */
export function ensure(condition: unknown, code: KvwireErrorCode, message: string, path?: string): asserts condition {
  if (!condition) throw new KvwireError(code, message, { path });
}
