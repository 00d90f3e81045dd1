// Logging with pino. JSON lines on stderr by default. When stderr is connected to the journal (systemd sets
// JOURNAL_STREAM=<dev>:<inode> of that stream, systemd.exec(5)), JSON would arrive as an unreadable MESSAGE=
// at one priority, so plain lines with a `<N>` syslog priority prefix are written instead; journald parses
// the prefix (sd-daemon(3), SyslogLevelPrefix=). Credentials inside URLs are redacted in both forms.
import { fstatSync, writeSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

/** `scheme://user:secret@host` -> `scheme://user:***@host`; also `Authorization: ...` values. */
export function redact(text: string): string {
  return text
    .replace(/\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/g, (_m, scheme: string, user: string) => `${scheme}${user}:***@`)
    .replace(/\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/@:]+)@/g, (_m, scheme: string) => `${scheme}***@`)
    .replace(/(authorization["']?\s*[:=]\s*["']?)(basic|bearer)?\s*[^\s"',}]+/gi, (_m, k: string, kind?: string) => `${k}${kind ? `${kind} ` : ''}***`);
}

function redactDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return redact(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (v instanceof Error) return v;
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactDeep(x, depth + 1);
  return out;
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

export interface LogOptions {
  level: LogLevel;
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** Where to write; default fd 2, synchronously so nothing is lost when the wrapper exits. */
  fd?: number;
  /** Force one format; default: journal when JOURNAL_STREAM matches the fd, else json. */
  format?: 'json' | 'journal';
}

export function createLogger(opts: LogOptions): Logger {
  const fd = opts.fd ?? 2;
  const format = opts.format ?? (stderrIsJournal(opts.env ?? process.env, fd) ? 'journal' : 'json');
  const write = (s: string) => {
    try { writeSync(fd, s); } catch { /* stderr gone: nothing sensible left to do */ }
  };
  const dest: DestinationStream = format === 'journal'
    ? { write: (s: string) => write(journalLine(s)) }
    : { write };
  return pino({
    level: opts.level,
    ...(opts.name ? { name: opts.name } : {}),
    base: format === 'journal' ? {} : { pid: process.pid },
    timestamp: format === 'journal' ? false : pino.stdTimeFunctions.isoTime,
    formatters: { log: (o) => redactDeep(o) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redact(a) : a)) as Parameters<typeof method>);
      },
    },
  }, dest);
}
