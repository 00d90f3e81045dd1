// Logging with pino. JSON lines on stderr by default. When stderr is connected to the journal (systemd sets
// JOURNAL_STREAM=<dev>:<inode> of that stream, systemd.exec(5)), JSON would arrive as an unreadable MESSAGE=
// at one priority, so plain lines with a `<N>` syslog priority prefix are written instead; journald parses
// the prefix (sd-daemon(3), SyslogLevelPrefix=). Credentials (URL userinfo, Authorization values,
// password/secret/token arguments) are redacted in both forms, in messages, fields and Errors.
import { fstatSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';
import { LogOutput } from './log-output.js';

export type { Logger };

// Userinfo of `scheme://userinfo@host`. RFC 3986 ends the authority at the first / ? # and the userinfo at
// the LAST @ inside it, so a raw @ in a password (`zope:s3cr@t@db`) is masked whole. Real DSNs also carry
// / ? # or spaces in passwords, which no URL parser accepts; for those see urlUserinfoEnd().
const SCHEME = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\//g;
// What may follow the @ of a mangled-password URL: a host name, IPv4, [IPv6] or empty (libpq's
// `user:pw@/db?host=/run/postgresql`), an optional port, then the end of the authority or of the word.
const HOST_AFTER_AT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]*)(?::\d*)?(?:[/?#)\]}>"',;]|$)/;
// A password spread over at most this many space-separated words; beyond that it is more likely prose.
const MAX_PASSWORD_WORDS = 4;

/**
 * Index in `text` of the @ that ends the userinfo of the URL whose authority starts at `start`, or -1.
 *
 * Limits: beyond the RFC form, `user:pass@host` is also recognised when the password holds / ? # or up to
 * three single spaces, provided the @ is followed by something host-like. It is not recognised when the
 * text after the colon starts with digits and then / ? # or a space (`host:8080/x?to=a@b.org` is a port
 * and a path, so `zope:12/34@db` stays visible), nor when a password holds both @ and a later / ? #
 * (`zope:p@ss/x@db` shows `ss/x`: `u:p@host/?to=a@b.org` looks the same), nor for tabs or newlines.
 */
function urlUserinfoEnd(text: string, start: number): number {
  const rest = text.slice(start);
  const authority = /^[^\s/?#]*/.exec(rest)![0];
  const at = authority.lastIndexOf('@');
  if (at >= 0) return at > 0 ? start + at : -1;
  const user = /^[^\s/?#@:[\]]*:/.exec(rest);
  if (!user || /^\d*(?:[\s/?#]|$)/.test(rest.slice(user[0].length))) return -1;
  let pos = 0;
  for (let words = 0; words < MAX_PASSWORD_WORDS; words++) {
    const word = /^[^\s]*/.exec(rest.slice(pos))![0];
    if (words > 0 && word.includes('://')) return -1;
    for (let i = word.lastIndexOf('@'); i >= 0; i = word.lastIndexOf('@', i - 1)) {
      if (HOST_AFTER_AT.test(word.slice(i + 1))) return start + pos + i;
      if (i === 0) break;
    }
    const gap = /^ +/.exec(rest.slice(pos + word.length));
    if (!gap) return -1;
    pos += word.length + gap[0].length;
  }
  return -1;
}

function redactUrls(text: string): string {
  let out = '';
  let done = 0;
  for (const m of text.matchAll(SCHEME)) {
    const start = m.index + m[0].length;
    if (start <= done) continue; // a scheme inside a span already masked
    const at = urlUserinfoEnd(text, start);
    if (at < 0) continue;
    const colon = text.indexOf(':', start);
    out += text.slice(done, start) + (colon >= 0 && colon < at ? `${text.slice(start, colon)}:***` : '***');
    done = at;
  }
  return out + text.slice(done);
}

// Names of arguments and variables holding secrets: --password, --db-passwd, PGPASSWORD, API_TOKEN, ...
const SECRET_NAME = String.raw`[\w.-]*(?:password|passwd|secret|token)[\w.-]*`;
const SECRET_FLAG = new RegExp(String.raw`^--?${SECRET_NAME}$`, 'i');
const SECRET_KEY = new RegExp(String.raw`^${SECRET_NAME}$`, 'i');
// `--name=value` and `NAME=value`; the value runs to whitespace (a password may contain & or ;) unless quoted.
const SECRET_ASSIGN = new RegExp(String.raw`(^|[\s"'(\[{,;])(-{0,2}${SECRET_NAME}=)(?:"[^"]*"|'[^']*'|\S+)`, 'gi');
// `user:password@host` without a scheme (a Host value, a libpq-style address): the word before the colon is the
// user, everything up to the last @ of the word the password, and a host must follow.
const BARE_USERINFO = /(^|[\s"'(=,[{<])([A-Za-z0-9._~%+-]+):([^\s"'<>/][^\s"'<>]*)@(?=\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9])/g;
// `?token=value&...` in a URL query ends at & or #.
const SECRET_QUERY = new RegExp(String.raw`([?&]${SECRET_NAME}=)[^\s&#]+`, 'gi');
// `--name value` in a command line kept as one string; `--name --other` is a switch, not a value.
const SECRET_SPACED = new RegExp(String.raw`(^|\s)(--?${SECRET_NAME})( +)(?!--)(?:"[^"]*"|'[^']*'|\S+)`, 'gi');

/**
 * Masks credentials in free text: `scheme://user:secret@host` -> `scheme://user:***@host` (see
 * urlUserinfoEnd() for which passwords are recognised), `scheme://token@host` -> `scheme://***@host`,
 * `user:secret@host` without a scheme -> `user:***@host`,
 * `Authorization: ...` values, and the values of `--password=x`, `--password x`, `PGPASSWORD=x`,
 * `?token=x` (any name containing password, passwd, secret or token, case-insensitive).
 * Idempotent, so already-masked text can pass again. For objects and argv arrays use redactDeep().
 */
export function redact(text: string): string {
  return redactUrls(text)
    .replace(/(authorization["']?\s*[:=]\s*["']?)(basic|bearer)?\s*[^\s"',}]+/gi, (_m, k: string, kind?: string) => `${k}${kind ? `${kind} ` : ''}***`)
    .replace(BARE_USERINFO, (m, pre: string, user: string, pass: string) => (pass === '***' ? m : `${pre}${user}:***@`))
    .replace(SECRET_ASSIGN, '$1$2***')
    .replace(SECRET_QUERY, '$1***')
    .replace(SECRET_SPACED, '$1$2$3***');
}

/**
 * redact() applied to every string in a value, plus what needs structure: the element after a
 * `--password`-like flag in an array (argv), string fields named like a secret (an env object), and
 * Errors, which become pino's err shape (type, message and stack including causes, own enumerable props,
 * aggregateErrors) so their messages and stacks are masked too. Returns a copy.
 */
export function redactDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return redact(v);
  // Deeper objects are cut to "[Object]" by pino's own depthLimit (5) before they are written.
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (v instanceof Error) return redactDeep({ ...pino.stdSerializers.err(v) }, depth);
  if (Array.isArray(v)) {
    return v.map((x, i) => (typeof x === 'string' && i > 0 && isSecretFlag(v[i - 1], x) ? '***' : redactDeep(x, depth + 1)));
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = typeof x === 'string' && x !== '' && SECRET_KEY.test(k) ? '***' : redactDeep(x, depth + 1);
  }
  return out;
}

function isSecretFlag(prev: unknown, value: string): boolean {
  return typeof prev === 'string' && SECRET_FLAG.test(prev) && !value.startsWith('--');
}

/** True when fd 2 is the stream systemd named in JOURNAL_STREAM (`dev:ino`, decimal). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const m = /^(\d+):(\d+)$/.exec(js);
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

// pino level -> syslog priority (sd-daemon(3): <7> debug, <6> info, <4> warning, <3> err, <2> crit)
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);

function fmtValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** Turns one pino JSON line into `<N>msg key=value ...` (one line; newlines in values are escaped by JSON). */
export function journalLine(json: string): string {
  let o: Record<string, unknown>;
  try { o = JSON.parse(json) as Record<string, unknown>; } catch { return `<6>${json.trimEnd()}\n`; }
  const prio = PRIORITY[Number(o.level)] ?? 6;
  const parts = [String(o.msg ?? '').replace(/\n/g, '\\n')];
  for (const [k, v] of Object.entries(o)) {
    if (SKIP.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: string; code?: string };
      parts.push(`err=${fmtValue(e.message ?? '')}${e.code ? ` code=${e.code}` : ''}`);
      continue;
    }
    parts.push(`${k}=${fmtValue(v)}`);
  }
  return `<${prio}>${parts.join(' ')}\n`;
}

// Message and printf-style arguments (`log.info('failed: %s', err)`).
function redactArg(a: unknown): unknown {
  if (a instanceof Error) return redact(String(a));
  return typeof a === 'string' || (a !== null && typeof a === 'object') ? redactDeep(a) : a;
}

export interface LogOptions {
  level: LogLevel;
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** Where to write; default fd 2. */
  fd?: number;
  /** The non-blocking output to write through; default one on `fd`. Its drops are logged when it flows again. */
  output?: LogOutput;
  /** Force one format; default: journal when JOURNAL_STREAM matches the fd, else json. */
  format?: 'json' | 'journal';
}

export function createLogger(opts: LogOptions): Logger {
  const fd = opts.fd ?? 2;
  const format = opts.format ?? (stderrIsJournal(opts.env ?? process.env, fd) ? 'journal' : 'json');
  // Never a blocking write: a stalled journal must not stop the wrapper's event loop (log-output.ts).
  const output = opts.output ?? new LogOutput({ fd });
  const dest: DestinationStream = format === 'journal'
    ? { write: (s: string) => output.write(journalLine(s)) }
    : { write: (s: string) => output.write(s) };
  const logger = pino({
    level: opts.level,
    ...(opts.name ? { name: opts.name } : {}),
    base: format === 'journal' ? {} : { pid: process.pid },
    timestamp: format === 'journal' ? false : pino.stdTimeFunctions.isoTime,
    formatters: { log: (o) => redactDeep(o) as Record<string, unknown> },
    // pino applies serializers after formatters.log (asJson in pino/lib/tools.js); the default one would
    // re-serialize the already masked plain object with type "Object".
    serializers: { err: (e: unknown) => e },
    hooks: {
      logMethod(args, method) {
        const [first, ...rest] = args as unknown[];
        if (first === null || typeof first !== 'object') {
          method.apply(this, args.map(redactArg) as Parameters<typeof method>);
          return;
        }
        // pino takes a missing msg from err.message after the hooks and formatters have run (write() in
        // pino/lib/proto.js), so that message is supplied here, masked.
        const obj = (first instanceof Error ? { err: first } : first) as { err?: unknown; msg?: unknown };
        const message = (obj.err as { message?: unknown } | undefined)?.message;
        if (rest[0] === undefined && obj.msg === undefined && typeof message === 'string') rest[0] = message;
        method.apply(this, [obj, ...rest.map(redactArg)] as Parameters<typeof method>);
      },
    },
  }, dest);
  output.onResume ??= (n) => logger.warn({ droppedLines: n, droppedTotal: output.dropped },
    `${n} log line${n === 1 ? '' : 's'} dropped while stderr was blocked (the journal or the pipe did not read)`);
  return logger;
}
