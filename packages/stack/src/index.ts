// @zope-systemd/stack: the operator commands (zstack) as a library. Hosts and HAProxy sit behind small
// interfaces (SystemdHost, LoadBalancer) so another transport (systemctl -H, a TCP stats socket) plugs in.
export { StackError, type StackErrorCode } from './errors.js';
export { loadStack, stackRef, selectClients, type ClientRef, type StackRef } from './stack.js';
export { LocalSystemd, parseShow, unixTimestamp, timeSpan, UNIT_PROPS, type SystemdHost, type UnitProps } from './systemd.js';
export { RuntimeApi, parseServers, type LoadBalancer, type ServerView, type ServerState } from './haproxy.js';
export { wrapperHealth, type WrapperHealth, type InstanceMemory } from './health.js';
export { gatherStatus, renderTable, unitStatus, cgroupBytes, clientMemory, type StackStatus, type ClientStatus, type UnitStatus } from './status.js';
export { acquireLock, lockHeld, lockFile, type StackLock, type LockHolder } from './lock.js';
export { cycleClient, drainClient, restartClient, waitUp, putBack, DEFAULT_TIMING, type OpContext, type Timing, type CycleTrack, type CyclePhase } from './cycle.js';
export { rollout, checkServing, type RolloutOptions, type RolloutResult } from './rollout.js';
export { recycle, chooseClient, type RecycleOptions, type RecycleDecision } from './recycle.js';
export { stopStack, type StopResult } from './stop.js';
export { readJournal, journalFile, type RolloutJournal } from './journal.js';
export { createProgress, type Progress } from './progress.js';
export { buildProgram, main, report, localDeps, DEFAULT_RUN_DIR, type Deps, type DepsFactory } from './commands.js';
