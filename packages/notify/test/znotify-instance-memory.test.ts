// The instance's memory as /health reports it, read from real processes: a shell with a child and a
// grandchild, in a process group of their own so the test ends all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { instanceMemory, parseSmapsRollup, processTree } from '../src/znotify/instance-memory.js';

function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  return (async () => {
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
}

test('the process tree and its memory: every descendant counted, a process that is gone is not', async (t) => {
  // sh -> (sleep, sh -> sleep): two levels of descendants.
  const sh = spawn('sh', ['-c', 'sleep 60 & sh -c "sleep 60 & wait" & wait'], { stdio: 'ignore', detached: true });
  t.after(() => { try { process.kill(-sh.pid!, 'SIGKILL'); } catch { /* gone */ } });
  const comm = (p: number): string => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return '?'; } };
  // Until both sleeps have exec'd (a forked child is `sh` until then).
  const tree = await until(async () => {
    const x = processTree(sh.pid!);
    return x.map(comm).sort().join(' ') === 'sh sh sleep sleep' ? x : undefined;
  }, 'sh, sh and two sleeps');
  assert.equal(tree[0], sh.pid);
  assert.ok(!tree.includes(process.pid), 'the caller is not part of it');

  const m = (await instanceMemory(sh.pid))!;
  assert.deepEqual([...m.pids].sort(), [...tree].sort(), `counted ${JSON.stringify(m.pids)}, tree ${JSON.stringify(tree)} (${tree.map(comm).join(' ')}), now ${JSON.stringify(processTree(sh.pid!))}`);
  const own = tree.map((p) => parseSmapsRollup(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8')));
  assert.ok(m.rssBytes > 0 && m.pssBytes > 0 && m.pssBytes <= m.rssBytes, JSON.stringify(m));
  // The sum of the parts, within what a process may touch between the two reads.
  const rss = own.reduce((a, x) => a + x.rss, 0);
  assert.ok(Math.abs(m.rssBytes - rss) < 1 << 20, `${m.rssBytes} vs ${rss}`);

  process.kill(-sh.pid!, 'SIGKILL');
  await new Promise((r) => sh.once('exit', r));
  const after = await instanceMemory(sh.pid);
  assert.ok(after === undefined || !after.pids.includes(sh.pid!), JSON.stringify(after));
});

test('no instance, or nothing readable: no figures', async () => {
  assert.equal(await instanceMemory(undefined), undefined);
  assert.equal(await instanceMemory(0), undefined);
  assert.equal(await instanceMemory(123, '/nonexistent-proc'), undefined);
  assert.deepEqual(parseSmapsRollup('Rss:                1200 kB\nPss:                 800 kB\n'), { rss: 1200 * 1024, pss: 800 * 1024 });
});
