// HTTP request paths as the wrapper sends them (check and warm-up paths, VirtualHostMonster paths among them):
// absolute, printable ASCII only. Node's http.request throws for some other characters (a space, `€`) and
// sends others as raw Latin-1 bytes (`ü`), so each is refused, with the percent-encoded path as the fix.
import { parsed, quoteValue, refused, type ParseResult, type Quote } from './parse-result.js';

/** encodeURI applied to what is outside printable ASCII only: `%` escapes already in the path stay as they are. */
export function percentEncodePath(p: string): string {
  return p.replace(/[^\x21-\x7e]/gu, (c) => {
    try { return encodeURI(c); } catch { return '%EF%BF%BD'; } // a lone surrogate has no UTF-8: U+FFFD
  });
}

export const REQUEST_PATH_EXAMPLE = 'write an absolute path such as /Plone or /VirtualHostBase/https/www.example.org:443/Plone/VirtualHostRoot/';

export function parseRequestPath(value: string, quote: Quote = quoteValue): ParseResult<string> {
  if (!value.startsWith('/')) return refused(`${quote(value)} is not an absolute path`, REQUEST_PATH_EXAMPLE);
  const bad = value.match(/[^\x21-\x7e]/u);
  if (bad) {
    return refused(`${quote(value)} contains ${quote(bad[0])}, which a request path cannot carry unencoded (printable ASCII only)`,
      `percent-encode it: ${quote(percentEncodePath(value))}`);
  }
  return parsed(value);
}

/** A Host: header value: a DNS name or IP literal, with an optional port. */
export function isHostHeader(h: string): boolean {
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(h);
}
