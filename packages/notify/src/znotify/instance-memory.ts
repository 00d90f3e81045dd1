// The instance's memory as GET /health reports it: RSS and PSS of the instance process and every process it
// started, from /proc/PID/smaps_rollup (Linux 4.14+). The wrapper reads it because it runs where the instance
// runs: an operator's tool asking /health gets the same figure for a client on this host and on another one,
// without reading a remote /proc. The wrapper itself is not counted: its memory is not what grows in a Plone
// instance, and it is the same for every client. Read only when /health is asked, never on a timer.
import fs from 'node:fs';

export interface InstanceMemory {
  /** The processes counted: the instance and its descendants, as found at the time of the read. */
  pids: number[];
  rssBytes: number;
  pssBytes: number;
}

/** `Rss:` and `Pss:` of /proc/PID/smaps_rollup (kB lines), in bytes. */
export function parseSmapsRollup(text: string): { rss: number; pss: number } {
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}

/**
 * The process and its descendants, through /proc/PID/task/TID/children (each thread lists the children it
 * forked). Without that file (a kernel without CONFIG_PROC_CHILDREN) only the process itself.
 */
export function processTree(pid: number, proc = '/proc', limit = 256): number[] {
  // Synchronous on purpose: these are a few tiny /proc files, read in microseconds, while one thread-pool round
  // trip each would make a /health?memory answer wait on a loaded machine (and miss its deadline).
  const seen: number[] = [];
  const queue = [pid];
  while (queue.length && seen.length < limit) {
    const p = queue.shift()!;
    if (seen.includes(p)) continue;
    seen.push(p);
    let tids: string[];
    try { tids = fs.readdirSync(`${proc}/${p}/task`); } catch { continue; }
    for (const tid of tids) {
      let text = '';
      try { text = fs.readFileSync(`${proc}/${p}/task/${tid}/children`, 'utf8'); } catch { /* gone, or no CONFIG_PROC_CHILDREN */ }
      for (const c of text.split(/\s+/)) if (/^\d+$/.test(c)) queue.push(Number(c));
    }
  }
  return seen;
}

/**
 * RSS and PSS summed over the instance's process tree; undefined without an instance or when none of its
 * processes could be read (it exited meanwhile). Processes that exit during the read are left out.
 */
export async function instanceMemory(pid: number | undefined, proc = '/proc'): Promise<InstanceMemory | undefined> {
  if (pid === undefined || !(pid > 0)) return undefined;
  // smaps_rollup walks each process's page tables (a few ms for a large one): read off the event loop, all at once.
  const read = await Promise.all(processTree(pid, proc).map(async (p) => {
    try { return { p, m: parseSmapsRollup(await fs.promises.readFile(`${proc}/${p}/smaps_rollup`, 'utf8')) }; } catch { return undefined; /* exited meanwhile */ }
  }));
  const found = read.filter((x): x is { p: number; m: { rss: number; pss: number } } => x !== undefined);
  if (found.length === 0) return undefined;
  return { pids: found.map((x) => x.p), rssBytes: found.reduce((a, x) => a + x.m.rss, 0), pssBytes: found.reduce((a, x) => a + x.m.pss, 0) };
}
