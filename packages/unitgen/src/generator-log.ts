// Logging for generator mode. Generators run before journald, so systemd.generator(7) says to log to the
// kernel log buffer: one write(2) per record to /dev/kmsg, "<3>" = LOG_ERR. Where there is no /dev/kmsg
// (containers), systemd 252 shows only "failed with exit status 1" for the generator: each record then goes to
// journald through systemd-cat (running on daemon-reload; at first boot it is not up yet) and to stderr, which
// PID 1 passes to the console.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export function kmsgLogger(path = process.env.ZUNITGEN_KMSG ?? '/dev/kmsg', ident = 'zunitgen-generator', systemdCat = '/usr/bin/systemd-cat'): (level: 'err' | 'warning' | 'info', msg: string) => void {
  let fd: number | undefined;
  let opened = false;
  const prio = { err: 3, warning: 4, info: 6 } as const;
  return (level, msg) => {
    if (!opened) {
      opened = true;
      try { fd = fs.openSync(path, 'a'); } catch { fd = undefined; }
    }
    const lines = msg.split('\n');
    if (fd !== undefined) {
      try { for (const line of lines) fs.writeSync(fd, `<${prio[level]}>${ident}[${process.pid}]: ${line}\n`); return; } catch { /* fall through */ }
    }
    spawnSync(systemdCat, [`--identifier=${ident}`, `--priority=${level}`], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'ignore'], timeout: 5000 });
    for (const line of lines) process.stderr.write(`<${prio[level]}>${ident}[${process.pid}]: ${line}\n`);
  };
}
