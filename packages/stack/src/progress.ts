// Live progress of a long operation. On a terminal: the current phase of each client on one line that
// updates in place (phase, detail, elapsed), finished phases as permanent lines. Otherwise: one plain line
// per phase change, with a timestamp, for logs and the journal.

export interface Progress {
  /** `client` enters `phase`; `detail` may be updated by calling again with the same phase. */
  step(client: string, phase: string, detail?: string): void;
  /** A line of its own (a decision, a warning). */
  line(text: string): void;
  close(): void;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function createProgress(out: NodeJS.WriteStream | NodeJS.WritableStream = process.stderr, tty = (out as NodeJS.WriteStream).isTTY === true): Progress {
  return tty ? new TtyProgress(out as NodeJS.WriteStream) : new PlainProgress(out);
}

class PlainProgress implements Progress {
  private last = new Map<string, string>();
  constructor(private readonly out: NodeJS.WritableStream) {}
  step(client: string, phase: string, detail?: string): void {
    const text = `${phase}${detail ? `: ${detail}` : ''}`;
    if (this.last.get(client) === text) return;
    this.last.set(client, text);
    this.out.write(`${new Date().toISOString()} ${client} ${text}\n`);
  }
  line(text: string): void { this.out.write(`${new Date().toISOString()} ${text}\n`); }
  close(): void { /* nothing buffered */ }
}

class TtyProgress implements Progress {
  private current = new Map<string, { phase: string; detail: string; since: number }>();
  private timer: NodeJS.Timeout;
  constructor(private readonly out: NodeJS.WriteStream) {
    this.timer = setInterval(() => this.draw(), 200);
    this.timer.unref();
  }
  step(client: string, phase: string, detail = ''): void {
    const c = this.current.get(client);
    if (c && c.phase === phase) { c.detail = detail; this.draw(); return; }
    if (c) this.permanent(`${client}  ${c.phase}${c.detail ? `: ${c.detail}` : ''}  (${secs(Date.now() - c.since)})`);
    this.current.set(client, { phase, detail, since: Date.now() });
    this.draw();
  }
  line(text: string): void { this.permanent(text); this.draw(); }
  close(): void {
    clearInterval(this.timer);
    for (const [client, c] of this.current) this.permanent(`${client}  ${c.phase}${c.detail ? `: ${c.detail}` : ''}  (${secs(Date.now() - c.since)})`);
    this.current.clear();
  }
  private permanent(text: string): void { this.out.write(`\r\x1b[K${text}\n`); }
  private draw(): void {
    const parts = [...this.current].map(([client, c]) => `${client} ${c.phase}${c.detail ? ` (${c.detail})` : ''} ${secs(Date.now() - c.since)}`);
    const width = this.out.columns || 100;
    const text = `> ${parts.join(' | ')}`;
    this.out.write(`\r\x1b[K${text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text}`);
  }
}
