// The modules zope-systemd's packages share, each named for the one concept it holds. Packages import them
// from here; the bundled executables (znotify, the generator, zstack) carry their own copy.
export { parsed, quoteValue, refused, type ParseResult, type Quote } from './parse-result.js';
export { problem, problemPlace, problemRecord, type Problem, type ProblemRecord } from './problem.js';
export { bareNumberWarning, DURATION_HINT, DURATION_MAX, DURATION_UNITS, formatTimeSpan, MAX_SPAN_MS, MAX_TIMER_MS, MAX_TIMER_TEXT, parseDuration, type DurationCeiling } from './duration.js';
export { formatAddress, isHostName, isIPv4, isIPv6, parseAddress, type Address, type AddressRules } from './address.js';
export { didYouMean, editDistance, typoBudget } from './did-you-mean.js';
export { isLogLevel, LOG_LEVELS, type LogLevel } from './log-level.js';
export { inNetworks, LOOPBACK_NETWORKS, parseNetwork, type Network } from './networks.js';
export { isHostHeader, parseRequestPath, percentEncodePath, REQUEST_PATH_EXAMPLE } from './request-path.js';
export {
  parseServersState, parseShowStat, RuntimeApiError, runtimeApiTarget, runtimeCommand, runtimeExchange, serverStat, serverStatOf,
  setServerState, showStatCommand, type ExchangeOptions, type RuntimeApiErrorCode, type RuntimeApiTarget, type ServerStat,
  type ServerStateLine,
} from './haproxy-runtime.js';
export {
  CHECK_KEYS, CHECK_ROLES, CHECK_TYPES, checkKeys, commonCheckKeys, DEFAULT_ROLES, FORWARDABLE_SIGNALS, HAPROXY_ID_RULE, HAPROXY_ID_TEXT, MAX_CHECKS,
  MAX_WARMUP_URLS, durationFloorOf, NAME_RULE, NAME_RULE_TEXT, sectionKeys, STACK_CHECK_KEYS, stackSectionKeys, STACK_DUMP_MODES, stackValueOf, STOP_SIGNALS, WRAPPER_CONFIG,
  type CheckKey, type CheckRole, type CheckType, type StackRule, type WrapperKey, type WrapperSection, type WrapperSectionName, type WrapperValue,
} from './wrapper-config.js';
export { durationSchema, wrapperKeySchema, wrapperRequiredKeys, wrapperSchemaDefs, znotifyConfigSchema, type WrapperSchemaFlavour } from './wrapper-schema.js';
export { EXIT_BROKEN_PIPE, watchBrokenPipe, type BrokenPipe, type BrokenPipeOptions } from './broken-pipe.js';
export { findCommand } from './command-path.js';
export { toJson } from './json-output.js';
export { yamlErrorsToReport } from './yaml-errors.js';
export { ZSTACK_DRAIN_TIMEOUT_MS, ZSTACK_UP_TIMEOUT_MS } from './zstack-timing.js';
export { firstDirHolding, isPathWithin } from './path-within.js';
