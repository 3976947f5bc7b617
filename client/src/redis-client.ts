import type { Cluster, Redis } from 'ioredis';

/** A connection to Redis: a single node or a cluster. */
export type RedisClient = Redis | Cluster;

/** What a connection is used for; each role gets its own socket. */
export type ConnectionRole = 'commands' | 'subscriber' | 'reader';
/**
 * The longest a blocking read (`XREAD … BLOCK`) of an event-log tail may wait. A reader connection
 * waits that long for a reply as a matter of course, so it is taken as dead only after this plus
 * `socketTimeoutMs` without a byte from the server.
 */
export const MAX_BLOCKING_READ_MS = 5_000;

/** Roles of connections opened besides the command connection. */
export type DedicatedRole = Exclude<ConnectionRole, 'commands'>;

/**
 * Moves a dedicated connection's work (a blocking reader's loop) to `next`, a new connection that is
 * ready, and resolves once `next` does that work. The old connection is closed after; if this
 * throws, `next` is closed and the old one kept.
 */
export type RenewDedicated = (next: RedisClient) => Promise<void>;
