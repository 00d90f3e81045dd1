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

/** The most of a text a message quotes: enough to recognize a value by; a whole file read as one is not repeated. */
const QUOTE_MAX = 120;

export const quoteValue: Quote = (v) => {
  if (typeof v !== 'string') return String(v);
  return v.length > QUOTE_MAX ? `${JSON.stringify(v.slice(0, QUOTE_MAX))}... (${v.length} characters)` : JSON.stringify(v);
};
