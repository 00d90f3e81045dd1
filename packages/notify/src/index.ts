// @zope-systemd/notify: sd_notify, socket activation and the watchdog for Node, without libsystemd.
// This file only re-exports; each concept lives in its own module.
export { NotifyError, NotifyErrorCode } from './errors.js';
export type { NotifyErrorOptions } from './errors.js';
export { notify, formatStates, notifyAddress, FDNAME_MAX } from './notify.js';
export type { NotifyState, NotifyStateType, NotifyOptions, FormattedMessage, FormatOptions } from './notify.js';
export { parseNotifySocket, closeNotifySockets, NOTIFY_MESSAGE_MAX } from './transport.js';
export type { NotifyAddress } from './transport.js';
export { barrier, DEFAULT_BARRIER_TIMEOUT_MS } from './barrier.js';
export type { BarrierOptions } from './barrier.js';
export { listenFds, listenServer, acceptedSocket, LISTEN_FDS_START } from './listen-fds.js';
export type { ListenFd, ListenFdsOptions } from './listen-fds.js';
export { watchdogEnabled, WatchdogPinger } from './watchdog.js';
export type { WatchdogInfo, WatchdogOptions, WatchdogPingerOptions, WatchdogCheckResult, HealthVerdict } from './watchdog.js';
export { childEnv, SYSTEMD_SERVICE_ENV } from './child-env.js';
export { descriptorOf } from './descriptor.js';
export type { HasDescriptor } from './descriptor.js';
