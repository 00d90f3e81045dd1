// The outcome of parsing one configured value: the value, or what is wrong with it and how to fix it. Parsers
// return this and never throw, so that a validator can collect every problem of a file, each with its place.

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string; hint?: string };

export function parsed<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}

export function refused(message: string, hint?: string): ParseResult<never> {
  return hint === undefined ? { ok: false, message } : { ok: false, message, hint };
}

/** How a value is quoted in a message: JSON style, so that spaces and control characters are visible. */
export type Quote = (value: unknown) => string;

export const quoteValue: Quote = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
