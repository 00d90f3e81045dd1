// A small, independent reader of unit files following systemd's rules, used by the tests to prove that
// generated files mean exactly what was intended. Written from systemd.syntax(7), systemd.unit(5)
// ("Specifiers") and systemd.service(5) ("Command lines"), not from the generator's code.

export interface Directive { section: string; key: string; value: string; line: number }

/** Lines -> [Section] + Key=value, as systemd's config parser reads them (comments, continuations, trimming). */
export function parseUnitFile(text: string): Directive[] {
  const out: Directive[] = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const start = i + 1;
    let t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue;
    // A line ending in a backslash continues on the next one (the backslash becomes a space).
    while (t.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*[#;]/.test(next)) continue;
      line = `${t.slice(0, -1)} ${next}`;
      t = line.trim();
    }
    if (t.startsWith('[')) {
      if (!t.endsWith(']')) throw new Error(`line ${start}: bad section header ${JSON.stringify(t)}`);
      section = t.slice(1, -1);
      continue;
    }
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`line ${start}: not an assignment: ${JSON.stringify(t)}`);
    if (section === '') throw new Error(`line ${start}: assignment outside a section`);
    out.push({ section, key: t.slice(0, eq).trim(), value: t.slice(eq + 1).trim(), line: start });
  }
  return out;
}

/** Specifier expansion for values we write: "%%" -> "%"; any other specifier would be expanded by systemd, which we never intend. */
export function unspecify(v: string): string {
  return v.replace(/%(.?)/g, (_m, c: string) => {
    if (c === '%') return '%';
    throw new Error(`unintended specifier %${c} in ${JSON.stringify(v)}`);
  });
}

const CESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' };

/** extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE): one word, quotes removed, C escapes decoded. */
function extractWord(s: string, pos: number): { word: string; end: number } | undefined {
  while (pos < s.length && /[ \t\n\r]/.test(s[pos]!)) pos++;
  if (pos >= s.length) return undefined;
  let word = '';
  let quote: string | undefined;
  for (; pos < s.length; pos++) {
    const c = s[pos]!;
    if (quote) {
      if (c === quote) { quote = undefined; continue; }
    } else {
      if (/[ \t\n\r]/.test(c)) break;
      if (c === '"' || c === "'") { quote = c; continue; }
    }
    if (c === '\\') {
      const n = s[pos + 1];
      if (n === undefined) throw new Error('trailing backslash');
      if (n === 'x') { word += String.fromCharCode(parseInt(s.slice(pos + 2, pos + 4), 16)); pos += 3; continue; }
      const e = CESCAPES[n];
      if (e === undefined) throw new Error(`unknown escape \\${n}`);
      word += e;
      pos++;
      continue;
    }
    word += c;
  }
  if (quote) throw new Error('unterminated quote');
  return { word, end: pos };
}

/** Splits a list value that unquotes (ReadWritePaths=, Environment=, ...). */
export function splitWords(v: string): string[] {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    const w = extractWord(v, pos);
    if (!w) return out;
    out.push(w.word);
    pos = w.end;
  }
}

/**
 * An Exec*= value -> the argv(s) systemd runs: specifiers first on the whole line, then words (quotes, C
 * escapes, "\;" and a lone ";" separating commands), then "$" expansion per word. Throws where systemd
 * would expand a variable or specifier we did not intend, so a test can assert a clean round trip.
 */
export function parseExec(value: string): string[][] {
  const line = unspecify(value);
  const cmds: string[][] = [[]];
  let pos = 0;
  for (;;) {
    while (pos < line.length && /[ \t]/.test(line[pos]!)) pos++;
    if (pos >= line.length) break;
    if (line[pos] === '\\' && line[pos + 1] === ';' && (pos + 2 === line.length || /[ \t]/.test(line[pos + 2]!))) {
      cmds[cmds.length - 1]!.push(';');
      pos += 2;
      continue;
    }
    if (line[pos] === ';' && (pos + 1 === line.length || /[ \t]/.test(line[pos + 1]!))) {
      cmds.push([]);
      pos += 1;
      continue;
    }
    const w = extractWord(line, pos)!;
    cmds[cmds.length - 1]!.push(w.word);
    pos = w.end;
  }
  return cmds.map((argv, ci) => argv.map((word, i) => {
    if (i === 0 && ci === 0 && /^[-@:+!]/.test(word)) throw new Error(`executable has a prefix: ${JSON.stringify(word)}`);
    if (i === 0) {
      if (word.includes('$')) throw new Error(`"$" in the executable: ${JSON.stringify(word)}`);
      return word;
    }
    let out = '';
    for (let k = 0; k < word.length; k++) {
      if (word[k] !== '$') { out += word[k]; continue; }
      if (word[k + 1] === '$') { out += '$'; k++; continue; }
      throw new Error(`unintended variable expansion in ${JSON.stringify(word)}`);
    }
    return out;
  }));
}

/** All values of one key in one section. */
export function values(ds: Directive[], section: string, key: string): string[] {
  return ds.filter((d) => d.section === section && d.key === key).map((d) => d.value);
}

/** The one value of a key (throws if absent or repeated). */
export function value(ds: Directive[], section: string, key: string): string {
  const v = values(ds, section, key);
  if (v.length !== 1) throw new Error(`[${section}] ${key}: expected one value, found ${v.length}`);
  return v[0]!;
}

/** [section, key] pairs in order: the "shape" of a file. */
export function shape(ds: Directive[]): string[] {
  return ds.map((d) => `[${d.section}]${d.key}`);
}
