import type { Cluster, Redis } from 'ioredis';

/** A connection to Redis: a single node or a cluster. */
export type RedisClient = Redis | Cluster;

/** What a connection is used for; each role gets its own socket. */
export type ConnectionRole = 'commands' | 'subscriber' | 'reader';
/** Roles of connections opened besides the command connection. */
export type DedicatedRole = Exclude<ConnectionRole, 'commands'>;

/**
 * Moves a dedicated connection's work (a blocking reader's loop) to `next`, a new connection that is
 * ready, and resolves once `next` does that work. The old connection is closed after; if this
 * throws, `next` is closed and the old one kept.
 */
export type RenewDedicated = (next: RedisClient) => Promise<void>;
