// The modules zope-systemd's packages share, each named for the one concept it holds. Packages import them
// from here; the bundled executables (znotify, the generator, zstack) carry their own copy.

export {
  parseServersState, parseShowStat, RuntimeApiError, runtimeApiTarget, runtimeCommand, runtimeExchange, serverStat, serverStatOf,
  setServerState, showStatCommand, type ExchangeOptions, type RuntimeApiErrorCode, type RuntimeApiTarget, type ServerStat,
  type ServerStateLine,
} from './haproxy-runtime.js';
