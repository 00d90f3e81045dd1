// A child of a notify-speaking service must not talk to systemd in its name: it would send READY=1 or
// WATCHDOG=1 for us (NotifyAccess=all), adopt our sockets (LISTEN_* with a pid it does not have is harmless,
// but its own children could match), or arm a watchdog it never pings.

/** The variables systemd sets for the service itself (sd_notify(3), sd_listen_fds(3), sd_watchdog_enabled(3)). */
export const SYSTEMD_SERVICE_ENV = [
  'NOTIFY_SOCKET',
  'WATCHDOG_USEC',
  'WATCHDOG_PID',
  'LISTEN_PID',
  'LISTEN_FDS',
  'LISTEN_FDNAMES',
] as const;

/**
 * A copy of env (default process.env) without NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID, LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES. Only these exact names: an application's own LISTEN_ADDRESS or
 * WATCHDOG_FOO is left alone. env itself is not changed.
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = { ...env };
  for (const key of SYSTEMD_SERVICE_ENV) delete copy[key];
  return copy;
}
