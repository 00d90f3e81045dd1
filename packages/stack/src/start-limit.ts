// systemd's start limit as the operator tools report it. A unit started more than StartLimitBurst= times within
// StartLimitIntervalSec= is not started again (systemd.unit(5)); zunitgen sizes both for ZEO and the clients so that
// one failing at every start ends `failed` instead of being restarted for ever (docs/unitgen.md, "Restarts and the
// start limit"). How systemd 252 records it (measured in test/unitgen-e2e-failed.test.ts):
// - a start an operator (or a job) asks for and the limit refuses: ActiveState=failed, Result=start-limit-hit;
// - a restart of Restart= that the limit refuses: ActiveState=failed, but Result= stays that of the failure before it
//   (exit-code, timeout, ...). The one record is pid 1's journal line "<unit>: Start request repeated too quickly."
//   with the unit's INVOCATION_ID (the refused start makes no new invocation).
import type { UnitProps } from './systemd.js';
import { timeSpan } from './systemd.js';

/** What the properties alone tell: true (Result=start-limit-hit), false (not failed), undefined (ask the journal). */
export function startLimitFromProps(p: Pick<UnitProps, 'ActiveState' | 'Result' | 'InvocationID'>): boolean | undefined {
  if (p.Result === 'start-limit-hit') return true;
  if (p.ActiveState !== 'failed' || !/^[0-9a-f]{32}$/.test(p.InvocationID)) return false;
  return undefined;
}

/**
 * journalctl for pid 1's record that it refused `unit` a start in invocation `invocationId` (matched on trusted
 * _PID=1, so a service cannot forge it): one line when it did, nothing when not.
 */
export function startLimitJournalArgv(unit: string, invocationId: string): string[] {
  return ['journalctl', '--no-pager', '--quiet', '--output=cat', '--lines=1', '_PID=1', `INVOCATION_ID=${invocationId}`, `MESSAGE=${unit}: Start request repeated too quickly.`];
}

/** `5 starts within 1h 50min`: the unit's own limit, from its properties (empty when systemd gave none). */
export function startLimitText(p: Partial<Pick<UnitProps, 'StartLimitBurst' | 'StartLimitIntervalUSec'>>): string {
  const burst = Number(p.StartLimitBurst);
  const span = timeSpan(p.StartLimitIntervalUSec);
  return burst > 0 && span !== undefined && span > 0 ? `${burst} starts within ${spanText(span)}` : '';
}

/** Seconds as `1h 50min`, `11min 47s`, `9s` (whole seconds: systemd's own form carries microseconds). */
function spanText(seconds: number): string {
  let s = Math.round(seconds);
  const parts: string[] = [];
  for (const [unit, n] of [['d', 86_400], ['h', 3600], ['min', 60], ['s', 1]] as const) {
    if (s >= n) { parts.push(`${Math.floor(s / n)}${unit}`); s %= n; }
  }
  return parts.join(' ') || '0s';
}

/** The RESULT an operator reads: systemd's Result=, or `start-limit-hit (exit-code)` when the limit ended a restart loop. */
export function resultText(result: string, startLimitHit: boolean | undefined): string {
  if (!startLimitHit || result === 'start-limit-hit') return result || '-';
  return `start-limit-hit (${result || '?'})`;
}

/** The hint for a unit systemd gave up on (`limit`: startLimitText's): fix, then forget the count and start it. */
export function startLimitHint(unit: string, limit: string): string {
  return `systemd gave up on it${limit ? ` (more than ${limit})` : ''}; see journalctl -u ${unit}, fix the cause, then systemctl reset-failed ${unit} && systemctl start ${unit}`;
}
