// Running a helper program (systemctl) without a shell: argv only, a timeout, and the output as text.
import { spawn } from 'node:child_process';

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs argv[0] with argv[1..]; resolves with its exit status (never rejects on a non-zero exit). */
export function run(argv: readonly string[], opts: { timeoutMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? { ...process.env, SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0', LC_ALL: 'C' },
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    let stdout = ''; let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const onAbort = (): void => { child.kill('SIGTERM'); };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => { opts.signal?.removeEventListener('abort', onAbort); reject(e); });
    child.once('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
  });
}
