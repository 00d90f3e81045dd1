// How zstack tells and says that systemd gave up on a unit (its start limit): the pure rules. What systemd 252 really
// records is checked against a real one in test/unitgen-e2e-failed.test.ts (status) and test/stack-try.test.ts (try).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resultText, startLimitFromProps, startLimitHint, startLimitJournalArgv, startLimitText } from '../src/start-limit.js';

const ID = '9444af9dfa89458aab22b85a4f41c6cf';

test('the properties answer when they can: Result=start-limit-hit is one, a unit not failed is none; else the journal decides', () => {
  assert.equal(startLimitFromProps({ ActiveState: 'failed', Result: 'start-limit-hit', InvocationID: ID }), true);
  assert.equal(startLimitFromProps({ ActiveState: 'active', Result: 'success', InvocationID: ID }), false);
  assert.equal(startLimitFromProps({ ActiveState: 'activating', Result: 'exit-code', InvocationID: ID }), false);
  // A failed unit whose Result= is that of the failure before the refused restart (systemd 252).
  assert.equal(startLimitFromProps({ ActiveState: 'failed', Result: 'exit-code', InvocationID: ID }), undefined);
  // No invocation (never started) or a malformed one: nothing to ask the journal about.
  assert.equal(startLimitFromProps({ ActiveState: 'failed', Result: 'exit-code', InvocationID: '' }), false);
  assert.equal(startLimitFromProps({ ActiveState: 'failed', Result: 'exit-code', InvocationID: `${ID} _PID=2` }), false);
});

test('the journal is asked for pid 1\'s own line of that invocation, each match a separate argument', () => {
  assert.deepEqual(startLimitJournalArgv('plone-client1.service', ID), [
    'journalctl', '--no-pager', '--quiet', '--output=cat', '--lines=1', '_PID=1', `INVOCATION_ID=${ID}`, 'MESSAGE=plone-client1.service: Start request repeated too quickly.',
  ]);
});

test('RESULT and the hint say start-limit-hit, the failure before it, the limit and the way back', () => {
  assert.equal(resultText('exit-code', true), 'start-limit-hit (exit-code)');
  assert.equal(resultText('start-limit-hit', true), 'start-limit-hit');
  assert.equal(resultText('exit-code', false), 'exit-code');
  assert.equal(resultText('', undefined), '-');
  assert.equal(startLimitText({ StartLimitBurst: '5', StartLimitIntervalUSec: '2h 40min' }), '5 starts within 2h 40min');
  assert.equal(startLimitText({ StartLimitBurst: '3', StartLimitIntervalUSec: '11min 46.500000s' }), '3 starts within 11min 47s');
  // No limit (StartLimitIntervalSec=0) or nothing known: nothing said.
  assert.equal(startLimitText({ StartLimitBurst: '5', StartLimitIntervalUSec: '0' }), '');
  assert.equal(startLimitText({}), '');
  assert.equal(startLimitHint('plone-client1.service', '3 starts within 1min'),
    'systemd gave up on it (more than 3 starts within 1min); see journalctl -u plone-client1.service, fix the cause, then systemctl reset-failed plone-client1.service && systemctl start plone-client1.service');
});
