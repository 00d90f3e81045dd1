// The ZEO check that respects the server's log (checks.ts ZeoKeeper), against the ZEO stub (sample/zeo_server.py),
// which logs every connection it accepts as a real ZEO server does: the log lines are the cost being measured.
import assert from 'node:assert/strict';
import test from 'node:test';
import { freePort } from '../../../test/harness/net.js';
import { sampleSkipReason, startZeoServer, type Peer } from '../../../test/harness/proc.js';
import { ZeoKeeper } from '../src/znotify/checks.js';

const skip = sampleSkipReason();
const connects = (p: Peer) => (p.stderr().match(/zeo_server: Connected /g) ?? []).length;

test('one kept connection and a ruok per ruok-every: 2 connections for 20 runs instead of 20', { skip }, async (t) => {
  const port = await freePort();
  let zeo = await startZeoServer({ port });
  t.after(() => zeo.stop());
  const kept = new ZeoKeeper({ host: '127.0.0.1', port }, 3_600_000);
  t.after(() => kept.close());
  const details: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await kept.run(2000);
    assert.ok(r.ok, r.detail);
    details.push(r.detail);
  }
  assert.match(details[0]!, /^ZEO Z5 ruok: 1 storage in /);
  assert.match(details[1]!, /^ZEO Z5 greeted in .*, connection kept$/);
  assert.match(details[19]!, /^ZEO Z5: connection open for /);
  await zeo.waitForOutput(/Connected .*\n.*Connected /);
  assert.equal(connects(zeo), 2, zeo.stderr());

  // The server goes away: the kept connection closes, the next run fails; back: a ruok first, then kept again.
  await zeo.stop();
  const down = await kept.run(1000);
  assert.equal(down.ok, false);
  assert.match(down.detail, /connection refused|closed before the ZEO greeting/);
  zeo = await startZeoServer({ port });
  const back = await kept.run(2000);
  assert.ok(back.ok, back.detail);
  assert.match(back.detail, /ruok/);
  assert.match((await kept.run(2000)).detail, /connection kept$/);

  // ruok-every 0: the plain check, one connection per run.
  const port2 = await freePort();
  const z2 = await startZeoServer({ port: port2 });
  t.after(() => z2.stop());
  const plain = new ZeoKeeper({ host: '127.0.0.1', port: port2 }, 0);
  for (let i = 0; i < 20; i++) assert.ok((await plain.run(2000)).ok);
  for (let i = 0; i < 100 && connects(z2) < 20; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(connects(z2), 20);
});
