// Logging for generator mode. Generators run before journald, so systemd.generator(7) says to log to the
// kernel log buffer: one write(2) per record to /dev/kmsg, "<3>" = LOG_ERR.

import * as fs from 'node:fs';

export function kmsgLogger(path = process.env.ZUNITGEN_KMSG ?? '/dev/kmsg', ident = 'zunitgen-generator'): (level: 'err' | 'warning' | 'info', msg: string) => void {
  let fd: number | undefined;
  let opened = false;
  const prio = { err: 3, warning: 4, info: 6 } as const;
  return (level, msg) => {
    if (!opened) {
      opened = true;
      try { fd = fs.openSync(path, 'a'); } catch { fd = undefined; }
    }
    for (const line of msg.split('\n')) {
      const rec = `<${prio[level]}>${ident}[${process.pid}]: ${line}\n`;
      if (fd !== undefined) {
        try { fs.writeSync(fd, rec); continue; } catch { /* fall through to stderr */ }
      }
      process.stderr.write(rec);
    }
  };
}
