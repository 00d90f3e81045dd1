// The JSON the tools print for scripts to read (zstack's `--json` objects, znotify's /health): one serializer, so
// that a duration reads the same everywhere, to the millisecond. A number under a key that names seconds
// (`uptimeSeconds`, `lastPingSecondsAgo`) keeps at most three decimals, one under a key ending in `Ms`
// (`lastDurationMs`) none. They are computed from clocks, and unrounded they print float noise
// (`7.4040000438690186` for an uptime of 7.404 s).

/** JSON.stringify's replacer for durations: seconds to 3 decimals, milliseconds whole. Other values pass as they are. */
function roundDurations(key: string, value: unknown): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value;
  if (key.includes('Seconds')) return Math.round(value * 1000) / 1000;
  if (key.endsWith('Ms')) return Math.round(value);
  return value;
}

/** `value` as JSON, durations rounded (roundDurations). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, roundDurations);
}
