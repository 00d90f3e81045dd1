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

test('redact: passwords holding @, / ? or spaces are masked whole; ordinary URLs are left alone', () => {
  assert.equal(redact('postgresql://zope:s3cr@t@db:5432/zodb'), 'postgresql://zope:***@db:5432/zodb');
  assert.equal(redact('postgresql://zope:pa/ss@db/zodb'), 'postgresql://zope:***@db/zodb');
  assert.equal(redact('postgresql://zope:pa?ss@/zodb?host=/run/postgresql'), 'postgresql://zope:***@/zodb?host=/run/postgresql');
  assert.equal(redact('connect (postgres://zope:a b@db), retrying'), 'connect (postgres://zope:***@db), retrying');
  assert.equal(redact('redis://:s3cret@cache:6379/0'), 'redis://:***@cache:6379/0');
  // Ports, paths and addresses after the authority are not credentials.
  for (const plain of ['http://localhost:8080/redirect?to=user@example.org', 'http://host:8080 as admin@example.org',
    'http://[::1]:8080/ login as admin@example.org']) assert.equal(redact(plain), plain);
  assert.equal(redact('see http://u:p@host/?to=a@b.org'), 'see http://u:***@host/?to=a@b.org');
  assert.equal(redact(redact('postgresql://zope:s3cr@t@db')), 'postgresql://zope:***@db');
});

test('redact: values of password/passwd/secret/token arguments and variables', () => {
  assert.equal(redact('/srv/bin/client1 console --password=s3cret --db-passwd "a b" -v'),
    '/srv/bin/client1 console --password=*** --db-passwd *** -v');
  assert.equal(redact('PGPASSWORD=a&b psql -U zope'), 'PGPASSWORD=*** psql -U zope');
  assert.equal(redact('GET https://api.example.org/x?access_token=abc&page=2'), 'GET https://api.example.org/x?access_token=***&page=2');
  assert.equal(redact('psql --password --host db'), 'psql --password --host db');
  assert.equal(redact('the token expired'), 'the token expired');
});

interface Line { msg: string; err: SerializedErr; command?: string[]; env?: Record<string, string> }
interface SerializedErr { type: string; message: string; stack: string; code?: string; dsn?: string; inner?: SerializedErr }

test('Errors are masked in message, stack, causes and own props, keeping the pino err shape, in both formats', () => {
  const cause = new Error('auth failed for http://admin:c4use@127.0.0.1:8080/Plone');
  const err = Object.assign(new Error('connect failed for postgresql://zope:hunter2@db/plone', { cause }), {
    code: 'ECONNREFUSED', dsn: 'postgresql://zope:hunter2@db/plone', inner: new TypeError('PGPASSWORD=hunter2'),
  });
  const j = tmpFile();
  const o = tmpFile();
  try {
    const journal = createLogger({ level: 'info', env: j.env, fd: j.fd });
    journal.error({ err }, 'probe loop failed');
    journal.error(err);
    const json = createLogger({ level: 'info', env: {}, fd: o.fd });
    json.error({ err }, 'probe loop failed');
    json.error(err);
    json.warn('retrying %s', err);
  } finally { closeSync(j.fd); closeSync(o.fd); }
  const journalText = readFileSync(j.file, 'utf8');
  const jsonText = readFileSync(o.file, 'utf8');
  assert.doesNotMatch(journalText + jsonText, /hunter2|c4use/);
  const chain = 'connect failed for postgresql://zope:***@db/plone: auth failed for http://admin:***@127.0.0.1:8080/Plone';
  assert.deepEqual(journalText.split('\n'), [
    `<3>probe loop failed err="${chain}" code=ECONNREFUSED`,
    `<3>connect failed for postgresql://zope:***@db/plone err="${chain}" code=ECONNREFUSED`,
    '',
  ]);
  const [withMsg, bare, retry] = jsonText.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
  assert.equal(withMsg!.err.type, 'Error');
  assert.equal(withMsg!.err.message, chain);
  assert.equal(withMsg!.err.code, 'ECONNREFUSED');
  assert.equal(withMsg!.err.dsn, 'postgresql://zope:***@db/plone');
  assert.equal(withMsg!.err.inner?.type, 'TypeError');
  assert.equal(withMsg!.err.inner?.message, 'PGPASSWORD=***');
  assert.match(withMsg!.err.stack, /^Error: connect failed for postgresql:\/\/zope:\*\*\*@db\/plone\n {4}at /);
  assert.match(withMsg!.err.stack, /\ncaused by: Error: auth failed for http:\/\/admin:\*\*\*@127\.0\.0\.1:8080\/Plone\n/);
  assert.equal(bare!.msg, 'connect failed for postgresql://zope:***@db/plone');
  assert.deepEqual(bare!.err, withMsg!.err);
  assert.equal(retry!.msg, 'retrying Error: connect failed for postgresql://zope:***@db/plone');
});

test('argv arrays and env objects: values of secret-named flags and variables are masked', () => {
  const o = tmpFile();
  try {
    createLogger({ level: 'info', env: {}, fd: o.fd }).info({
      command: ['/srv/bin/client1', 'console', '--password', 's3cret', '--token=s3cret', 'PGPASSWORD=s3cret', '--verbose'],
      env: { PGPASSWORD: 's3cret', HOME: '/srv' },
    }, 'instance started');
  } finally { closeSync(o.fd); }
  const line = JSON.parse(readFileSync(o.file, 'utf8')) as Line;
  assert.deepEqual(line.command, ['/srv/bin/client1', 'console', '--password', '***', '--token=***', 'PGPASSWORD=***', '--verbose']);
  assert.deepEqual(line.env, { PGPASSWORD: '***', HOME: '/srv' });
});
