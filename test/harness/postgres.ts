// A throw-away PostgreSQL 15 cluster for integration tests: initdb into a temp dir, postgres in the foreground
// on 127.0.0.1:<port> with its unix socket in the temp dir, stop()/start() to take the database away and
// bring it back on the same port, down() removes everything.
//
// postgres refuses to run as root ("root" execution of the PostgreSQL server is not permitted), so as root
// initdb runs through `runuser -u postgres` and the server is spawned with the postgres uid/gid directly
// (no runuser in between, so the pid we hold, and kill in teardown, is the postmaster's own). As any other
// user both simply run as that user.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort, waitForTcp } from './net.js';
import { startPeer, type Peer } from './proc.js';

export const POSTGRES_BIN_DIR = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

interface RunAs { uid: number; gid: number }

function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Why a cluster cannot be made here, or undefined. */
export function postgresSkipReason(): string | undefined {
  for (const b of ['initdb', 'postgres']) {
    if (!existsSync(path.join(POSTGRES_BIN_DIR, b))) return `${POSTGRES_BIN_DIR}/${b} is missing (apt-get install postgresql-15)`;
  }
  if (process.getuid?.() === 0) {
    if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root but there is no postgres user';
    if (spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status !== 0) return 'running as root but runuser is missing';
  }
  return undefined;
}

export interface PostgresOptions {
  /** Default: freePort(). */
  port?: number;
  /** How long start() may take; default 20 000 ms. */
  readyTimeoutMs?: number;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

export interface Postgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;          // temp dir: data/ and the unix socket
  readonly dataDir: string;
  readonly socketDir: string;    // for `psql -h <socketDir>`
  readonly user: 'postgres';     // superuser, trust authentication
  /** The postmaster's pid, undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Starts the postmaster (again) on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT), SIGKILL after 10 s; connections are refused afterwards. Idempotent. */
  stop(): Promise<void>;
  /** The server log of all runs so far. */
  output(): string;
  /** stop() and remove the temp dir. Idempotent. */
  down(): Promise<void>;
}

/** initdb + start. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  const runAs = postgresUser();
  const port = opts.port ?? await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zs-pg-'));
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);
  const dataDir = path.join(dir, 'data');

  const initdb = [path.join(POSTGRES_BIN_DIR, 'initdb'), '-D', dataDir, '-U', 'postgres', '-A', 'trust',
    '-E', 'UTF8', '--no-sync', '--no-instructions'];
  const init = spawnSync(runAs ? 'runuser' : initdb[0]!, runAs ? ['-u', 'postgres', '--', ...initdb] : initdb.slice(1),
    { encoding: 'utf8', cwd: dir });
  if (init.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (status ${init.status}): ${init.stderr || init.error?.message}`);
  }

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',                 // throw-away data: speed over durability
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: '16MB',
    max_connections: '20',
    logging_collector: 'off',     // log to our stderr pipe
    ...opts.settings,
  };
  const argv = [path.join(POSTGRES_BIN_DIR, 'postgres'), '-D', dataDir, '-p', String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];

  let peer: Peer | undefined;
  let log = '';
  let downed = false;
  const pg: Postgres = {
    host: '127.0.0.1',
    port,
    dir,
    dataDir,
    socketDir: dir,
    user: 'postgres',
    get pid() { return peer && !peer.exitInfo ? peer.pid : undefined; },
    get running() { return peer !== undefined && !peer.exitInfo; },
    async start() {
      if (downed) throw new Error('this cluster has been removed (down())');
      if (pg.running) return;
      const timeoutMs = opts.readyTimeoutMs ?? 20_000;
      peer = await startPeer(argv, {
        name: `postgres:${port}`,
        cwd: dir,
        ...(runAs ?? {}),
        stopSignal: 'SIGINT',       // fast shutdown: roll back and disconnect clients (postgres(1))
        stopTimeoutMs: 10_000,
        readyTimeoutMs: timeoutMs,
        ready: async (p) => {
          await p.waitForOutput(/database system is ready to accept connections/, { timeoutMs });
          await waitForTcp(port, '127.0.0.1', timeoutMs);
        },
      });
    },
    async stop() {
      if (!peer) return;
      await peer.stop();
      log += peer.output();
      peer = undefined;
    },
    output: () => log + (peer?.output() ?? ''),
    async down() {
      if (downed) return;
      await pg.stop();
      downed = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg.start();
  } catch (e) {
    await pg.down();
    throw e;
  }
  return pg;
}

/** startPostgres + t.after(down). */
export async function usePostgres(t: TestContext, opts: PostgresOptions = {}): Promise<Postgres> {
  const pg = await startPostgres(opts);
  t.after(() => pg.down());
  return pg;
}

/**
 * Sends a PostgreSQL SSLRequest (int32 length 8, int32 80877103; protocol docs, "SSLRequest") and resolves
 * with the server's one-byte answer: 'S' (willing to do TLS) or 'N'. Rejects on connection errors, a close
 * without answer, another byte, or after timeoutMs.
 */
export async function sslRequest(port: number, host = '127.0.0.1', timeoutMs = 2_000): Promise<'S' | 'N'> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no SSLRequest answer from ${host}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
    const finish = (f: () => void) => { clearTimeout(timer); s.destroy(); f(); };
    s.once('connect', () => {
      const msg = Buffer.alloc(8);
      msg.writeInt32BE(8, 0);
      msg.writeInt32BE(80877103, 4);
      s.write(msg);
    });
    s.once('data', (d: Buffer) => {
      const c = String.fromCharCode(d[0]!);
      finish(() => (c === 'S' || c === 'N' ? resolve(c) : reject(new Error(`unexpected SSLRequest answer ${JSON.stringify(c)} from ${host}:${port}`))));
    });
    s.once('error', (e) => finish(() => reject(e)));
    s.once('end', () => finish(() => reject(new Error(`${host}:${port} closed without answering the SSLRequest`))));
  });
}
