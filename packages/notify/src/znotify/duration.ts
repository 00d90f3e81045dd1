// Durations as the wrapper shows them in logs and STATUS=, and as systemd wants them in notifications. Parsing
// a configured duration is @zope-systemd/common's parseDuration (the one rule of both tools).

/** Human form for logs and STATUS=: "850 ms", "4.1 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  const sec = Math.round((ms - min * 60_000) / 1000);
  return sec ? `${min} min ${sec} s` : `${min} min`;
}

/** Milliseconds to the microseconds systemd wants in WATCHDOG_USEC= / EXTEND_TIMEOUT_USEC=. */
export function msToUsec(ms: number): bigint {
  return BigInt(Math.max(0, Math.round(ms * 1000)));
}
