// The rollout journal through a real file: what --resume reads back is what the stopped rollout wrote, its command
// after `--` included; a journal written without a command still reads (no command); a command that is not a list
// of strings is not one zstack wrote, and such a journal is not used.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { journalFile, readJournal, writeJournal, type RolloutJournal } from '../src/journal.js';

function runDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zstack-journal-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const base = (): RolloutJournal => ({
  stack: 'plone', file: '/etc/zope-systemd/plone.yaml', startedAt: '2026-12-05T08:30:12.000Z', pid: 4242,
  clients: ['client1', 'client2'], done: ['client1'], current: { client1: 'restarted' },
  stopped: { client: 'client1', reason: 'interrupted' },
});

test('journal: the command after `--` is written and read back as argv, arguments a shell would split or expand kept whole', (t) => {
  const dir = runDir(t);
  const j: RolloutJournal = { ...base(), after: ['/usr/bin/varnishadm', 'ban', 'req.url', '~', '.', '$(id); x'] };
  writeJournal(dir, j);
  assert.deepEqual(readJournal(dir, 'plone'), j);
  assert.deepEqual(JSON.parse(fs.readFileSync(journalFile(dir, 'plone'), 'utf8')).after, j.after);
});

test('journal: one written without a command (also by zstack before it kept one) reads with none', (t) => {
  const dir = runDir(t);
  const old = base();
  fs.writeFileSync(journalFile(dir, 'plone'), `${JSON.stringify(old, null, 2)}\n`);
  const read = readJournal(dir, 'plone');
  assert.deepEqual(read, old);
  assert.equal(read?.after, undefined);
  writeJournal(dir, base());
  assert.equal('after' in JSON.parse(fs.readFileSync(journalFile(dir, 'plone'), 'utf8')), false, 'no command, no key');
});

test('journal: a command that is not a non-empty list of strings makes the journal unusable, never a command run', (t) => {
  const dir = runDir(t);
  for (const after of ['/bin/echo banned', [], ['/bin/echo', 1], { 0: '/bin/echo' }, null]) {
    fs.writeFileSync(journalFile(dir, 'plone'), JSON.stringify({ ...base(), after }));
    assert.equal(readJournal(dir, 'plone'), undefined, JSON.stringify(after));
  }
});
