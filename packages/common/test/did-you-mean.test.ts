// One did-you-mean for both tools (the wrapper used edit distance with swaps, zunitgen plain Levenshtein with a
// looser limit): a single typo of a known word is always found, and an unrelated word gets no suggestion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { didYouMean, editDistance } from '../src/index.js';

test('typos, spelling variants, and words too far off', () => {
  assert.equal(didYouMean('helth', ['health', 'http']), 'health');
  assert.equal(didYouMean('failureThreshold', ['failure-threshold', 'interval']), 'failure-threshold');
  assert.equal(didYouMean('cpu_weight', ['cpu-weight']), 'cpu-weight');
  assert.equal(didYouMean('tpc', ['http', 'tcp', 'zeo']), 'tcp');
  assert.equal(didYouMean('SIGTREM', ['SIGTERM', 'SIGINT']), 'SIGTERM');
  assert.equal(didYouMean('theads', ['threads', 'health']), 'threads');
  assert.equal(didYouMean('zzzzzz', ['health', 'http']), undefined);
  assert.equal(didYouMean('udp', ['tcp', 'http']), undefined, 'two edits of a three-letter word is another word');
  assert.equal(didYouMean('x', []), undefined);
});

const KNOWN = ['interval', 'timeout', 'failure-threshold', 'success-threshold', 'roles', 'grace', 'address', 'ruok-every', 'database-grace', 'hang-timeout'];
const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-'.split(''));

/** One edit of w at position i: insert, delete, substitute, or swap with the next character. */
function edit(w: string, kind: number, i: number, c: string): string {
  const at = i % w.length;
  switch (kind) {
    case 0: return w.slice(0, at) + c + w.slice(at);
    case 1: return w.slice(0, at) + w.slice(at + 1);
    case 2: return w.slice(0, at) + c + w.slice(at + 1);
    default: return at + 1 < w.length ? w.slice(0, at) + w[at + 1] + w[at] + w.slice(at + 2) : w;
  }
}

test('property: one edit of a known word suggests a word at most one edit away (the word itself, unless another is as close)', () => {
  fc.assert(fc.property(fc.constantFrom(...KNOWN), fc.nat(3), fc.nat(40), letter, (word, kind, i, c) => {
    const typo = edit(word, kind, i, c);
    const got = didYouMean(typo, KNOWN);
    assert.ok(got !== undefined, `${typo} (from ${word}): no suggestion`);
    assert.ok(editDistance(typo, got) <= 1, `${typo}: suggested ${got}`);
  }));
});

test('property: the distance is a metric-like count (symmetric, zero only for equal words, at most the longer length)', () => {
  fc.assert(fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
    const d = editDistance(a, b);
    assert.equal(d, editDistance(b, a));
    assert.equal(d === 0, a === b);
    assert.ok(d <= Math.max(a.length, b.length));
  }));
});
