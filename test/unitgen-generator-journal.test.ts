// Generator mode where /dev/kmsg cannot be written (containers): the errors of a broken stack config still reach
// the journal of a real systemd 252, with the file:line:col and the fix, not only "exit status 1".
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BOX_NODE, boxSkipReason, useBox } from './harness/box.js';

const skip = boxSkipReason();

test('generator errors go to the journal when /dev/kmsg is unavailable', { skip, timeout: 60_000 }, async (t) => {
  const box = await useBox(t);
  const cfgDir = join(box.shared, 'zope-systemd');
  mkdirSync(cfgDir, { recursive: true });
  writeFileSync(join(cfgDir, 'broken.yaml'), 'stack: broken\nuser: plone\ndirectory: /srv/x\nclients: { count: 1, command: /srv/x/bin/c, http: "127.0.0.1:1", health: "127.0.0.1:1" }\n');
  const r = await box.exec([BOX_NODE, `${box.repo}/packages/unitgen/dist/cli.js`, 'generator', '/run/zunitgen-test'], {
    allowFail: true, env: { ZUNITGEN_CONFIG_DIR: cfgDir, ZUNITGEN_KMSG: '/nonexistent/kmsg' },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /<3>zunitgen-generator\[\d+\]: .*broken\.yaml:4:\d+: error: .*already used/);
  let journal = '';
  for (let i = 0; i < 50 && !/already used/.test(journal); i++) {
    journal = (await box.exec(['journalctl', '--no-pager', '-o', 'cat', '-t', 'zunitgen-generator'], { allowFail: true })).stdout;
    if (!/already used/.test(journal)) await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(journal, /broken\.yaml:4:\d+: error: clients\.health \(client1\)|broken\.yaml:4:\d+: error: .*127\.0\.0\.1:1 is already used/);
  assert.match(journal, /hint: give every client its own http and health ports/);
});
