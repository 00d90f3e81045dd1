// The one place the wrapper's notifications to systemd go out, and the memory of the last STATUS= text.
//
// STATUS= shows in `systemctl status` to anyone: check details can quote a DSN or a command's output, so every
// status text is redacted here. After start-up, losing systemd must not take the instance down: a failed send
// is logged once per error code and otherwise ignored.
import { barrier, notify, NotifyError, type NotifyState } from '../index.js';
import { redact, type Logger } from './log.js';

export class Notifier {
  private readonly reported = new Set<string>();
  private last = '';

  constructor(private readonly env: NodeJS.ProcessEnv, private readonly log: Logger) {}

  /** The last STATUS= text sent through status() or announce(). */
  get lastStatus(): string { return this.last; }

  /** Sends the states as one datagram. `strict` rethrows a failure (the start-up probe of NOTIFY_SOCKET). */
  send(states: NotifyState[], strict = false): void {
    try {
      notify(states.map((st) => (st.type === 'status' ? { ...st, text: redact(st.text) } : st)), { env: this.env });
    } catch (err) {
      if (strict) throw err;
      const code = err instanceof NotifyError ? err.code : 'unknown';
      if (!this.reported.has(code)) {
        this.reported.add(code);
        this.log.error({ err, states: states.map((s) => s.type) }, 'cannot notify systemd');
      }
    }
  }

  /** STATUS=text after `extra`; the same text again with nothing extra is not sent. */
  status(text: string, extra: NotifyState[] = []): void {
    if (text === this.last && extra.length === 0) return;
    this.announce([...extra, { type: 'status', text }]);
  }

  /**
   * Resolves once systemd has processed every notification sent before (sd_notify_barrier(3)): true then, false
   * when not under systemd, false (logged) when it did not answer within timeoutMs or the barrier could not be sent.
   */
  async settled(timeoutMs = 2000): Promise<boolean> {
    try {
      return await barrier({ env: this.env, timeoutMs });
    } catch (err) {
      this.log.warn({ err }, 'systemd did not confirm the notifications sent so far (BARRIER=1); going on');
      return false;
    }
  }

  /** Sends the states as given (the STATUS= among them wherever it stands) and remembers their status text. */
  announce(states: NotifyState[]): void {
    for (const st of states) if (st.type === 'status') this.last = st.text;
    this.send(states);
  }
}
