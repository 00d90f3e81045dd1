// The wrapper's log levels (pino's), from the most to the least verbose. `silent` writes no log line at all;
// the reason for a failed start still reaches the journal, as the wrapper's last line on stderr.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}
