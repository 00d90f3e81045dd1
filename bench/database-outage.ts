// A ZEO outage longer than the clients' database grace, in a real systemd 252 behind a real HAProxy 2.6: how long
// after ZEO is back until every client is UP again, and how many clients were restarted. Two variants, interleaved
// round by round so they see the same machine load:
//   readiness   the zeo check as zunitgen generates it (roles: startup, readiness): nothing restarts
//               (both variants: the zeo check every 500 ms, failing at the first failed run)
//   liveness    the zeo check with the liveness role back (the wrapper's own default, database-grace 1s): the
//               watchdog restarts every client during the outage; each waits for ZEO, then they warm up one at a
//               time (the stack's warm-up slot)
// Set-up as the end-to-end tests (test/fixtures/unitgen/stack.ts): the sample ZEO stub, sample instances whose
// first /Plone takes --warmup seconds, WatchdogSec=2s, an outage of --outage seconds.
//
//   node --import tsx bench/database-outage.ts [--rounds N] [--clients C] [--warmup S] [--outage S]
import type { TestContext } from 'node:test';
import { parseArgs } from 'node:util';
import { BACKEND, clientUnit, setUpStack, sleep, TARGET, ZEO_UNIT, stackSkipReason } from '../test/fixtures/unitgen/stack.js';

const { values } = parseArgs({ options: {
  rounds: { type: 'string', default: '2' }, clients: { type: 'string', default: '3' },
  warmup: { type: 'string', default: '3' }, outage: { type: 'string', default: '8' },
} });
const ROUNDS = Number(values.rounds), CLIENTS = Number(values.clients), WARMUP = Number(values.warmup), OUTAGE = Number(values.outage);
const skip = stackSkipReason();
if (skip) { console.error(`bench/database-outage: cannot run here: ${skip}`); process.exit(69); }

type Variant = 'readiness' | 'liveness';

/** A TestContext for the fixture's t.after() teardown, run by us. */
function context(): { t: TestContext; teardown: () => Promise<void> } {
  const hooks: Array<() => unknown> = [];
  const t = { name: 'bench', after: (fn: () => unknown) => { hooks.push(fn); }, diagnostic: () => {} } as unknown as TestContext;
  return { t, teardown: async () => { for (const h of hooks.reverse()) await h(); } };
}

async function run(variant: Variant): Promise<{ recoveryMs: number; restarts: number }> {
  const { t, teardown } = context();
  try {
    const s = await setUpStack(t, {
      clients: CLIENTS, warmupSeconds: WARMUP,
      edit: (y) => {
        let out = y.replace(/^ {2}watchdog: \{ database-grace: 1min \}$/m, '  watchdog: { database-grace: 1s }').replace(/^watchdog: 20s$/m, 'watchdog: 2s');
        // Both variants see the outage at once (one failed ruok); only the roles differ.
        const zeo = variant === 'liveness' ? '{ name: zeo, interval: 500ms, failure-threshold: 1, roles: [startup, readiness, liveness] }' : '{ name: zeo, interval: 500ms, failure-threshold: 1 }';
        out = out.replace('    - { name: root, interval: 1s }', `    - { name: root, interval: 1s }\n    - ${zeo}`);
        return out;
      },
    });
    const hx = s.hx!;
    const clients = Array.from({ length: CLIENTS }, (_, i) => i + 1);
    await s.box.exec(['systemctl', 'start', TARGET], { timeoutMs: 120_000 });
    for (const n of clients) await hx.waitForState(BACKEND, `client${n}`, 'UP', { timeoutMs: 20_000 });
    const before = await Promise.all(clients.map((n) => s.show(clientUnit(n), ['InvocationID'])));
    await s.box.systemctl('stop', ZEO_UNIT);
    await sleep(OUTAGE * 1000);
    await s.box.systemctl('start', ZEO_UNIT);
    const back = Date.now();
    for (const n of clients) await hx.waitForState(BACKEND, `client${n}`, 'UP', { timeoutMs: 120_000, intervalMs: 20 });
    const recoveryMs = Date.now() - back;
    const after = await Promise.all(clients.map((n) => s.show(clientUnit(n), ['InvocationID'])));
    return { recoveryMs, restarts: after.filter((a, i) => a.InvocationID !== before[i]!.InvocationID).length };
  } finally {
    await teardown();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const results: Record<Variant, Array<{ recoveryMs: number; restarts: number }>> = { readiness: [], liveness: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const v of ['readiness', 'liveness'] as const) {
    const x = await run(v);
    results[v].push(x);
    console.log(`round ${r + 1} ${v}: all ${CLIENTS} clients UP ${x.recoveryMs} ms after ZEO was back; ${x.restarts} restarted`);
  }
}
const base = median(results.readiness.map((x) => x.recoveryMs));
for (const v of ['readiness', 'liveness'] as const) {
  const m = median(results[v].map((x) => x.recoveryMs));
  console.log(`${v.padEnd(9)}: median ${m} ms to all UP (${(m / base).toFixed(2)}x readiness), restarts per run ${results[v].map((x) => x.restarts).join(',')}; ${CLIENTS} clients, warm-up ${WARMUP} s, outage ${OUTAGE} s, ${ROUNDS} rounds`);
}
