// Logging: JSON by default, `<N>`-prefixed plain lines when stderr is the journal stream named by
// JOURNAL_STREAM (compared by dev:ino of a real fd), credentials in URLs redacted in both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, journalLine, redact, stderrIsJournal } from '../src/znotify/log.js';

test('redact: passwords in URLs and Authorization values', () => {
  assert.equal(redact('postgresql://zope:s3cret@db:5432/plone'), 'postgresql://zope:***@db:5432/plone');
  assert.equal(redact('see http://admin:admin@127.0.0.1:8080/Plone and https://token@example.org/'),
    'see http://admin:***@127.0.0.1:8080/Plone and https://***@example.org/');
  assert.equal(redact('Authorization: Basic YWRtaW46YWRtaW4='), 'Authorization: Basic ***');
  assert.equal(redact('http://127.0.0.1:8080/Plone'), 'http://127.0.0.1:8080/Plone');
  assert.equal(redact('user@example.org wrote'), 'user@example.org wrote');
});

function tmpFile(): { fd: number; file: string; env: NodeJS.ProcessEnv } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'znotify-log-')), 'log');
  const fd = openSync(file, 'w');
  const st = fstatSync(fd);
  return { fd, file, env: { JOURNAL_STREAM: `${st.dev}:${st.ino}` } };
}

test('JOURNAL_STREAM: matches only the fd it names', () => {
  const a = tmpFile();
  const b = tmpFile();
  try {
    assert.equal(stderrIsJournal(a.env, a.fd), true);
    assert.equal(stderrIsJournal(a.env, b.fd), false);
    assert.equal(stderrIsJournal({}, a.fd), false);
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }, a.fd), false);
  } finally { closeSync(a.fd); closeSync(b.fd); }
});

test('journal format: priority prefix per level, key=value, redacted, one line each', () => {
  const j = tmpFile();
  try {
    const log = createLogger({ level: 'debug', name: 'client1', env: j.env, fd: j.fd });
    log.debug('probing');
    log.info({ url: 'http://admin:pw@127.0.0.1/Plone', attempt: 2 }, 'warm-up 1/2: /Plone 200 in 4.1 s');
    log.warn({ check: 'zeo' }, 'check zeo failing');
    log.error('instance exited\nwith status 1 postgresql://u:p@h/db');
    const lines = readFileSync(j.file, 'utf8').split('\n');
    assert.deepEqual(lines, [
      '<7>probing',
      '<6>warm-up 1/2: /Plone 200 in 4.1 s url=http://admin:***@127.0.0.1/Plone attempt=2',
      '<4>check zeo failing check=zeo',
      '<3>instance exited\\nwith status 1 postgresql://u:***@h/db',
      '',
    ]);
  } finally { closeSync(j.fd); }
  assert.equal(journalLine('not json\n'), '<6>not json\n');
});

test('json format by default (JOURNAL_STREAM names another stream), also redacted', () => {
  const j = tmpFile();
  try {
    const log = createLogger({ level: 'info', name: 'client1', env: { JOURNAL_STREAM: '1:1' }, fd: j.fd });
    log.info({ command: ['/bin/x', '--dsn', 'postgresql://zope:secret@db/plone'] }, 'instance started');
    const o = JSON.parse(readFileSync(j.file, 'utf8')) as Record<string, unknown>;
    assert.equal(o.msg, 'instance started');
    assert.equal(o.level, 30);
    assert.equal(o.name, 'client1');
    assert.deepEqual(o.command, ['/bin/x', '--dsn', 'postgresql://zope:***@db/plone']);
    assert.match(String(o.time), /^\d{4}-\d\d-\d\dT/);
  } finally { closeSync(j.fd); }
});
