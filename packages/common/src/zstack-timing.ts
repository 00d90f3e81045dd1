// The waits of a zstack operation on one client, by default: how long it waits for a drained client's sessions
// to end, and for HAProxy to show a client UP. zstack uses them; zunitgen derives the recycle unit's start
// timeout from them (a run that outlives every wait it may do is stuck).
export const ZSTACK_DRAIN_TIMEOUT_MS = 120_000;
export const ZSTACK_UP_TIMEOUT_MS = 60_000;
