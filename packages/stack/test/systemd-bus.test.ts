// systemd's private D-Bus socket, the parts that need no machine, against bytes a real systemd 252 sent (captured by
// fixtures/private-bus/capture.ts: zstack's own calls for a unit of each state, every byte of the answer, signals
// included, and `systemctl show` of the same units at the same moment), and time spans against systemd-analyze.
// The same reader against a live systemd, and its fallback to systemctl, is test/stack-e2e.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { DbusFormatError, MESSAGE_TYPE, methodCalls, readBody, takeMessages, type DbusMessage } from '../src/dbus-message.js';
import { collectReplies, formatTimespan, propertyCalls, SystemdBusError, unitObjectPath } from '../src/systemd-bus.js';
import { LocalSystemd, parseShow } from '../src/systemd.js';
import { FIXTURE_UNITS } from './fixtures/private-bus/units.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/private-bus');
const fixture = (f: string): Buffer => fs.readFileSync(path.join(FIXTURES, f));
const UNITS = [...FIXTURE_UNITS];

/** The captured stream: systemd's `OK <guid>` line, then its messages. */
function captured(): { authLine: string; messages: DbusMessage[]; body: Buffer } {
  const raw = fixture('replies.bin');
  const eol = raw.indexOf('\r\n');
  const body = raw.subarray(eol + 2);
  const { messages, next } = takeMessages(body);
  assert.equal(next, body.length, 'the capture ends on a whole message');
  return { authLine: raw.subarray(0, eol).toString('latin1'), messages, body };
}

function replies(messages: readonly DbusMessage[]): Map<number, DbusMessage> {
  return new Map(messages.filter((m) => m.type === MESSAGE_TYPE.methodReturn || m.type === MESSAGE_TYPE.error).map((m) => [m.replySerial!, m]));
}

test('the capture answers exactly the calls zstack writes today (else run fixtures/private-bus/capture.ts again)', () => {
  const { bytes } = propertyCalls(UNITS);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), fixture('request.sha256').toString('utf8').trim());
});

test('replies from systemd 252 read as the same properties systemctl show printed for each unit', () => {
  const { authLine, messages } = captured();
  assert.match(authLine, /^OK [0-9a-f]{32}$/);
  // systemd sends its signals (UnitNew, PropertiesChanged, UnitRemoved: it loads the unit that has no file for each
  // call) to every private connection, between the replies: they are not answers.
  assert.ok(messages.some((m) => m.type === MESSAGE_TYPE.signal), 'the capture holds signals between the replies');
  const { asks } = propertyCalls(UNITS);
  const got = collectReplies(asks, replies(messages));
  const want = parseShow(fixture('systemctl-show.txt').toString('utf8'), UNITS);
  assert.deepEqual(got, want);
  // What the test covers: a running unit with STATUS= and a watchdog, the empty and [not set] values, not-found.
  assert.equal(got.get('fx-active.service')!.WatchdogUSec, '1min 30.500000s');
  assert.match(got.get('fx-active.service')!.InvocationID, /^[0-9a-f]{32}$/);
  assert.equal(got.get('fx-nosuch.service')!.LoadState, 'not-found');
  assert.equal(got.get('fx-failed.service')!.Result, 'exit-code');
  assert.equal(got.get('basic.target')!.MainPID, '');
});

test('a unit\'s MainPID and ControlGroup are asked before its ActiveState (a signalled process is never newer than the state seen)', () => {
  const order = propertyCalls(['a.service']).asks.map((a) => a.prop);
  assert.ok(order.indexOf('MainPID') < order.indexOf('ActiveState') && order.indexOf('ControlGroup') < order.indexOf('ActiveState'), order.join(' '));
});

test('a unit whose SubState or MainPID differs when asked again last changed while it was read: refused as such', () => {
  const { messages } = captured();
  const { asks } = propertyCalls(UNITS);
  const all = replies(messages);
  const serial = (unit: string, prop: string, recheck: boolean) => asks.findIndex((a) => a.unit === unit && a.prop === prop && !!a.recheck === recheck) + 1;
  assert.equal(collectReplies(asks, all).get('fx-active.service')!.SubState, 'running', 'as captured: the same before and after');
  for (const prop of ['SubState', 'MainPID']) {
    // The recheck answered with the failed unit's value: what systemd would say had fx-active stopped meanwhile.
    const moved = new Map(all).set(serial('fx-active.service', prop, true), all.get(serial('fx-failed.service', prop, false))!);
    assert.throws(() => collectReplies(asks, moved), (e: Error) => e instanceof SystemdBusError && e.changed && new RegExp(`fx-active.service changed while it was read: ${prop}`).test(e.message), prop);
  }
});

test('LocalSystemd reads a unit that changed while it was read again, and after three such answers asks systemctl that once', async (t) => {
  // A socket that answers each connection with the next of `streams` (systemd's captured bytes) once the calls are in.
  const raw = fixture('replies.bin');
  const { asks } = propertyCalls(UNITS);
  const recheck = asks.findIndex((a) => a.unit === 'fx-active.service' && a.prop === 'SubState' && a.recheck) + 1;
  const torn = Buffer.from(raw);
  const m = takeMessages(torn, torn.indexOf('\r\n') + 2).messages.find((x) => x.replySerial === recheck)!;
  torn.write('stopped', torn.indexOf('running', m.start), 'latin1'); // fx-active no longer running when asked again
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zsd-bus-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'private');
  const streams: Buffer[] = [];
  let connections = 0;
  const server = net.createServer((c) => { const s = streams[connections++]; c.once('data', () => { if (s) c.write(s); }); c.on('error', () => {}); });
  await new Promise<void>((ok) => server.listen(socketPath, ok));
  t.after(() => server.close());
  // Torn once, then whole: the second read answers, over the socket.
  streams.push(torn, raw);
  const systemd = new LocalSystemd(['systemctl'], 'this machine', { socketPath, timeoutMs: 5000 });
  const got = await systemd.show(UNITS);
  assert.deepEqual(systemd.lastShow, { via: 'private-bus' });
  assert.equal(connections, 2);
  assert.deepEqual(got, parseShow(fixture('systemctl-show.txt').toString('utf8'), UNITS));
  // Torn three times: systemctl is asked (where systemd does not run, its error is the answer)...
  streams.push(torn, torn, torn, raw);
  const third = await systemd.show(UNITS).then(() => systemd.lastShow, (e: Error) => e.name);
  assert.equal(connections, 5);
  if (typeof third === 'string') assert.equal(third, 'StackError');
  else assert.match(third?.via === 'systemctl' ? third.busError ?? '' : 'not systemctl', /fx-active.service changed while it was read: SubState "running", then "stopped"/);
  // ...and the socket stays in use: it works, the unit was only changing.
  await systemd.show(UNITS);
  assert.deepEqual(systemd.lastShow, { via: 'private-bus' });
  assert.equal(connections, 6);
});

test('unit object paths are the ones systemd gives (LoadUnit), escapes and a leading digit included', () => {
  const paths = JSON.parse(fixture('object-paths.json').toString('utf8')) as Record<string, string>;
  assert.ok(Object.keys(paths).length >= UNITS.length + 2);
  for (const [name, p] of Object.entries(paths)) assert.equal(unitObjectPath(name), p, name);
});

test('method calls: each field and argument reads back, aligned from the start of its own message', () => {
  const calls = [
    { serial: 1, path: '/org/freedesktop/systemd1/unit/a_2eservice', interface: 'org.freedesktop.DBus.Properties', member: 'Get', args: ['org.freedesktop.systemd1.Unit', 'Id'] },
    { serial: 2, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'LoadUnit', args: ['é.service'] },
    { serial: 7, path: '/', interface: 'x.y', member: 'Ping', args: [] },
  ];
  const bytes = methodCalls(calls);
  const { messages, next } = takeMessages(bytes);
  assert.equal(next, bytes.length);
  assert.deepEqual(messages.map((m) => [m.type, m.serial, m.signature, readBody(m)]), calls.map((c) => [MESSAGE_TYPE.methodCall, c.serial, 's'.repeat(c.args.length), c.args]));
});

test('a message cut anywhere is left for the next read; a header that is not D-Bus, or big-endian, is refused', () => {
  const { body } = captured();
  const first = takeMessages(body).messages[0]!;
  for (const cut of [0, 1, 15, 16, 40, first.end - 1]) assert.deepEqual(takeMessages(body.subarray(0, cut)), { messages: [], next: 0 }, `cut at ${cut}`);
  const notDbus = Buffer.from(body.subarray(0, first.end)); notDbus[0] = 0x78;
  assert.throws(() => takeMessages(notDbus), DbusFormatError);
  const bigEndian = Buffer.from(body.subarray(0, first.end)); bigEndian[0] = 0x42;
  assert.throws(() => takeMessages(bigEndian), /big-endian/);
  const version2 = Buffer.from(body.subarray(0, first.end)); version2[3] = 2;
  assert.throws(() => takeMessages(version2), /protocol version 2/);
});

test('what the reader does not understand is refused, so the caller asks systemctl', () => {
  const { messages } = captured();
  const { asks } = propertyCalls(UNITS);
  const all = replies(messages);
  // A property of another type than systemd 252 gives it (MainPID 'u' read as if it were 's').
  const mainPid = asks.findIndex((a) => a.unit === 'fx-active.service' && a.prop === 'MainPID') + 1;
  const statusText = asks.findIndex((a) => a.unit === 'fx-active.service' && a.prop === 'StatusText') + 1;
  assert.throws(() => collectReplies(asks, new Map(all).set(mainPid, all.get(statusText)!)), (e: Error) => e instanceof SystemdBusError && /MainPID has D-Bus type "s", expected "u"/.test(e.message));
  // An error other than "no such property on this interface" (the captured error, renamed in place: same length).
  const absent = [...all.values()].find((m) => m.type === MESSAGE_TYPE.error)!;
  const other = Buffer.from(absent.bytes.subarray(absent.start, absent.end));
  other.write('org.freedesktop.DBus.Error.ObjectPathInUse', other.indexOf('org.freedesktop.DBus.Error.UnknownProperty'), 'latin1');
  const otherMsg = takeMessages(other).messages[0]!;
  assert.equal(otherMsg.errorName, 'org.freedesktop.DBus.Error.ObjectPathInUse');
  assert.throws(() => collectReplies(asks, new Map(all).set(absent.replySerial!, otherMsg)), /ObjectPathInUse/);
  // A name without a unit type.
  assert.throws(() => propertyCalls(['nosuffix']), SystemdBusError);
});

test('time spans as systemd writes them (systemd-analyze timespan, format_timespan with accuracy 0)', { skip: analyzeSkip() }, () => {
  const fixed = [0n, 1n, 7n, 999n, 1000n, 1500n, 2_500n, 1_000_000n, 1_500_000n, 59_999_999n, 60_000_000n, 60_000_001n, 90_500_000n,
    3_600_000_001n, 86_400_000_000n, 31_557_600_000_000n, 2_629_800_000_000n, 788_400_000_000n];
  const random = fc.sample(fc.bigInt({ min: 0n, max: 10n ** 15n }), { numRuns: 300, seed: 12 });
  const values = [...fixed, ...random];
  // One systemd-analyze for all: each span is answered by a block whose "Human:" line is format_timespan(span, 0).
  const out = execFileSync('systemd-analyze', ['timespan', ...values.map((v) => `${v}us`)], { encoding: 'utf8' });
  const human = [...out.matchAll(/^\s*Human: (.*)$/gm)].map((m) => m[1]!);
  assert.equal(human.length, values.length);
  values.forEach((v, i) => assert.equal(formatTimespan(v), human[i], `${v} us`));
  assert.equal(formatTimespan((1n << 64n) - 1n), 'infinity');
});

function analyzeSkip(): string | undefined {
  try { execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' }); return undefined; } catch { return 'systemd-analyze is not installed'; }
}
