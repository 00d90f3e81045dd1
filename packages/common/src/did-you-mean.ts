// The one did-you-mean of every zope-systemd message: the known word closest to a typo, if it is close enough
// to be one. Spelling variants (case, `-` / `_` / ` `, camelCase for kebab-case) count as no edit at all; an
// edit is an insertion, deletion, substitution or swap of two neighbours ("tpc" for "tcp" is one edit).

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const spelling = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');

/**
 * How many edits still read as a typo of `word`: one for short words, a third of the length for longer
 * ones, never more than three (beyond that a suggestion is a guess).
 */
export function typoBudget(word: string): number {
  return Math.max(1, Math.min(3, Math.floor(word.length / 3)));
}

/** The closest candidate, if within typoBudget of it; the first of equally close ones. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = spelling(c) === spelling(input) ? 0 : editDistance(input.toLowerCase(), c.toLowerCase());
    if (score < bestScore) { best = c; bestScore = score; }
  }
  return best !== undefined && bestScore <= typoBudget(best) ? best : undefined;
}
