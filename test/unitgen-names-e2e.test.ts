// Unit names with escapes, read back from a real systemd 252: the sockets of a stack whose name needs escaping
// ("my-site" -> my\x2dsite) reach their service (Sockets= unquotes, unlike Wants=/After=), so the service gets
// its LISTEN_FDS. Our own reader (packages/unitgen/test/unitfile.ts) is not the judge here; systemd is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boxSkipReason, useBox } from './harness/box.js';
import { builtinTemplates, parseStack, renderWith, systemdEscape } from '@zope-systemd/unitgen';

const skip = boxSkipReason();

const config = (stack: string) => `stack: ${JSON.stringify(stack)}
user: daemon
directory: /srv/site
hardening: false
haproxy: { backend: site }
environment: { PYTHONPATH: "/srv/lib %h", HOSTILE: "say \\"hi\\" \\\\ $HOME; x=1 'q'" }
clients:
  count: 1
  command: /srv/site/bin/client{n}
  http: 127.0.0.1:{18080+n}
  health: { agent: "127.0.0.1:{19080+n}", http: "127.0.0.1:{19180+n}" }
`;

test('escaped stack names: every reference between the generated units resolves in systemd', { skip, timeout: 60_000 }, async (t) => {
  const box = await useBox(t);
  for (const stack of ['my-site', 'ä b.c']) {
    const m = parseStack(config(stack), { file: 'names.yaml' });
    const prefix = systemdEscape(stack);
    for (const f of renderWith(m, builtinTemplates(), { outDir: '/etc/systemd/system' })) {
      if (f.kind === 'unit') await box.writeUnit(f.name, f.content);
    }
    for (const c of m.clients) {
      const svc = await box.show(c.unit, ['TriggeredBy', 'Wants', 'After', 'Slice', 'LoadState']);
      const sockets = [c.agentSocket, c.healthSocket!];
      t.diagnostic(`${stack}: ${c.unit} ${JSON.stringify(svc)}`);
      assert.equal(svc.LoadState, 'loaded');
      // systemctl show quotes names holding a backslash; compare the unquoted words
      const words = (v: string) => (v.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).map((w) => (w.startsWith('"') ? JSON.parse(w.replace(/\\\\/g, '\\\\')) as string : w));
      assert.deepEqual(words(svc.TriggeredBy!).sort(), [...sockets].sort(), `${c.unit} is not triggered by its sockets`);
      for (const s of sockets) assert.ok(words(svc.Wants!).includes(s) && words(svc.After!).includes(s), `${s} not in Wants=/After= of ${c.unit}`);
      assert.equal(svc.Slice, `${prefix}.slice`);
      // environment: the values exactly as written in the config, as systemd hands them to the process
      const env = await box.exec(['systemctl', 'show', '-p', 'Environment', '--value', c.unit]);
      t.diagnostic(`Environment: ${env.stdout.trim()}`);
      assert.equal(env.stdout.trim(), `"PYTHONPATH=/srv/lib %h" "HOSTILE=say \\"hi\\" \\\\ \\$HOME; x=1 'q'"`);
      for (const s of sockets) {
        const sock = await box.show(s, ['Triggers', 'LoadState', 'PartOf', 'BindsTo']);
        assert.equal(sock.LoadState, 'loaded');
        assert.deepEqual([words(sock.Triggers!), words(sock.PartOf!), words(sock.BindsTo!)], [[c.unit], [c.unit], [c.unit]]);
      }
    }
    // No reference anywhere names a unit that does not exist: systemd lists such units as "not-found".
    const notFound = await box.exec(['systemctl', 'list-units', '--all', '--no-legend', '--plain', '--state=not-found']);
    assert.doesNotMatch(notFound.stdout, new RegExp(prefix.replace(/\\/g, '').replace(/[.]/g, '\\.')), notFound.stdout);
  }
});
