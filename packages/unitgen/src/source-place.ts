// Where a value of the model is written in its stack file, for checks made after parsing (zunitgen's warnings
// about this machine, zstack try's refusals): they name file:line:col of the exact key from the positions the
// parser kept, never by searching the text (which finds a comment or another key with the same value first).
import { problemPlace } from '@zope-systemd/common';
import type { StackModel } from './model.js';

/** The enclosing key of a dotted key path: `clients.command[2]` -> `clients.command` -> `clients`; '' at the top. */
function enclosing(key: string): string {
  const m = /^(.*?)(?:\[[^\]]*\]|\.[^.[\]]*)$/.exec(key);
  return m ? m[1]! : '';
}

/**
 * Line and column of the value at `key` in the file `m` was parsed from. A key the file does not write as such (one
 * word of a command given as one string, a default) gives the nearest enclosing key that is written; none gives
 * line 0 (the file as a whole).
 */
export function positionOf(m: Pick<StackModel, 'source' | 'positions'>, key: string): { file: string; line: number; col: number } {
  for (let k = key; k !== ''; k = enclosing(k)) {
    const p = Object.hasOwn(m.positions, k) ? m.positions[k] : undefined;
    if (p) return { file: m.source, line: p.line, col: p.col };
  }
  return { file: m.source, line: 0, col: 0 };
}

/** `file:line:col` of the value at `key` (positionOf), or the file alone. */
export function placeOf(m: Pick<StackModel, 'source' | 'positions'>, key: string): string {
  return problemPlace(positionOf(m, key));
}
