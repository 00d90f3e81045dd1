// The floor for bench/znotify-memory.ts: the least a Node process can be while it does the wrapper's resident
// work. Not a wrapper (no config validation, no state machine, no logs, no thresholds, no drain): a
// hand-written minimum with the same V8 flags as znotify's main.ts and the same notify transport
// (@zope-systemd/notify, i.e. koffi), that
//   - spawns the instance with inherited stdio and waits for its warm-up URL to answer 200, then READY=1;
//   - runs the same checks at the same interval: http GET / (keep-alive node:http Agent), tcp connect, and the
//     ZEO `ruok` exchange;
//   - answers agent-checks (`up ready 100%`) and HTTP (/health/ready, /metrics with the counters the benchmark reads);
//   - sends WATCHDOG=1 at half of WATCHDOG_USEC.
// Its RSS, measured in the same rounds, says how much of the wrapper's ratio to bare `node -e 0` is Node doing
// this work at all, and how much is the wrapper's own weight.
//
//   node bench/znotify-floor.mjs run --config FILE.yaml -- instance argv...
// reads FILE.json (written beside the YAML by the benchmark: { http, agent, health, zeo, intervalMs, warmup }).
import v8 from 'node:v8';

for (const f of ['--semi-space-growth-factor=1', '--max-opt=1', '--optimize-for-size']) v8.setFlagsFromString(f);
const { spawn } = await import('node:child_process');
const fs = await import('node:fs');
const http = await import('node:http');
const net = await import('node:net');
const { notify } = await import('../packages/notify/dist/index.js');

const argv = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(argv[argv.indexOf('--config') + 1].replace(/\.yaml$/, '.json'), 'utf8'));
const command = argv.slice(argv.indexOf('--') + 1);
const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal === 'SIGTERM' ? 15 : 9)));
process.on('SIGTERM', () => child.kill('SIGTERM'));

let runs = 0;
let pings = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const get = (path) => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port: cfg.http, path, agent, timeout: 1000 }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('timeout', () => req.destroy());
  req.on('error', () => resolve(0));
});
const tcp = () => new Promise((resolve) => {
  const s = net.connect(cfg.http, '127.0.0.1', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});
const frame = (text) => { const b = Buffer.from(text); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h, b]); };
const zeo = () => new Promise((resolve) => {
  const s = net.connect(cfg.zeo, '127.0.0.1');
  let buf = Buffer.alloc(0);
  let greeted = false;
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const msg = buf.subarray(4, 4 + buf.readUInt32BE(0));
      buf = buf.subarray(4 + msg.length);
      if (!greeted) { greeted = true; s.write(frame('ruok')); } else { JSON.parse(msg.toString()); s.destroy(); resolve(true); }
    }
  });
  s.on('error', () => resolve(false));
});

while ((await get(cfg.warmup)) !== 200) await new Promise((r) => setTimeout(r, 50));
notify({ type: 'ready' });
const usec = Number(process.env.WATCHDOG_USEC);
if (usec > 0) setInterval(() => { notify({ type: 'watchdog' }); pings++; }, usec / 2000);
const every = (check) => { const tick = async () => { await check(); runs++; setTimeout(tick, cfg.intervalMs); }; void tick(); };
every(() => get('/'));
every(tcp);
if (cfg.zeo) every(zeo);
net.createServer((s) => s.end('up ready 100%\n')).listen(cfg.agent, '127.0.0.1');
http.createServer((req, res) => {
  if (req.url === '/metrics') res.end(`znotify_check_runs_total{name="floor"} ${runs}\nznotify_watchdog_pings_total{name="floor"} ${pings}\n`);
  else res.end('{"ready":true}');
}).listen(cfg.health, '127.0.0.1');
