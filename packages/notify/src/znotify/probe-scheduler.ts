// Runs the configured checks as probes, each in its own loop (probe.ts), all ended by one AbortSignal, and
// tells the supervisor after every result. One HttpProber (a keep-alive pool) per address, shared by http
// checks and the warm-up; one kept ZEO connection per zeo check.
import { formatAddress, type Address } from './address.js';
import { HttpProber, runCheck, ZeoKeeper, type CheckDeps } from './checks.js';
import type { ZeoCheckSpec } from './config.js';
import type { Logger } from './log.js';
import { runProbe, type Clock, type ProbeState } from './probe.js';

/** The HTTP probers of one wrapper, one per address, closed together at the end. */
export class ProberPool {
  private readonly probers = new Map<string, HttpProber>();
  private readonly keepers = new Map<string, ZeoKeeper>();

  /** The prober for `address`, made on first use. */
  http(address: Address): HttpProber {
    const key = formatAddress(address);
    let p = this.probers.get(key);
    if (!p) { p = new HttpProber(address); this.probers.set(key, p); }
    return p;
  }

  /** The kept connection of the zeo check `spec` (check names are unique), made on first use. */
  zeo(spec: ZeoCheckSpec): ZeoKeeper {
    let k = this.keepers.get(spec.name);
    if (!k) { k = new ZeoKeeper(spec.address, spec.ruokEveryMs); this.keepers.set(spec.name, k); }
    return k;
  }

  async close(): Promise<void> {
    for (const k of this.keepers.values()) k.close();
    await Promise.all([...this.probers.values()].map((p) => p.close()));
  }
}

export interface ProbeSchedulerOptions {
  pool: ProberPool;
  /** The instance's environment, for command checks. */
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'debug' | 'error'>;
  /** Whether the instance runs now (alive and not frozen), and the hang timeout: how a busy http check is judged. */
  childAlive(): boolean;
  hangTimeoutMs: number;
  /** After every result, once it has been logged. */
  onResult(): void;
}

export class ProbeScheduler {
  private readonly deps: CheckDeps;

  constructor(private readonly o: ProbeSchedulerOptions, private readonly signal: AbortSignal) {
    this.deps = { http: (address) => o.pool.http(address), zeo: (spec) => o.pool.zeo(spec), env: o.env };
  }

  /** Starts the loop of one probe; with `untilPass` it ends once the probe passes (startup-only probes). */
  start(p: ProbeState, untilPass: boolean): void {
    const { clock, log } = this.o;
    void runProbe({
      state: p,
      untilPass,
      clock,
      run: (signal) => runCheck(p.spec, this.deps, signal),
      context: () => ({ childAlive: this.o.childAlive(), hangTimeoutMs: this.o.hangTimeoutMs }),
      onResult: (ps, r, tr) => {
        if (tr) {
          const lvl = tr === 'fail' ? 'warn' : 'info';
          log[lvl]({ check: ps.spec.name, type: ps.spec.type, result: r.detail }, tr === 'fail' ? `check ${ps.spec.name} failing` : `check ${ps.spec.name} passing`);
        } else {
          log.debug({ check: ps.spec.name, ok: r.ok, result: r.detail }, 'check run');
        }
        this.o.onResult();
      },
    }, this.signal).catch((err: unknown) => log.error({ err, check: p.spec.name }, 'probe loop failed'));
  }
}
