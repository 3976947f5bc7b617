/**
 * Why the command was refused for now, without running it: LOADING (the server is still loading its
 * dataset after a restart), or in cluster mode the slot of its keys is moving (online resharding, a
 * failover): ioredis follows MOVED and ASK and waits out TRYAGAIN (a multi-key command whose keys are
 * only partly moved yet) and CLUSTERDOWN by itself, 16 times in all, then gives up with "Too many
 * Cluster redirections. Last error: …". Only when that last error is one of those did the last try
 * run nothing; after another one ("Connection is closed." before a reply) it may have run, and the
 * caller decides.
 */
export function refusedForNow(error: unknown): 'LOADING' | 'SLOT_MOVING' | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.message.startsWith('LOADING')) return 'LOADING';
  if (/^(TRYAGAIN|MOVED|ASK|CLUSTERDOWN)\b/.test(error.message)) return 'SLOT_MOVING';
  if (/^Too many Cluster redirections\. Last error: ReplyError: (TRYAGAIN|MOVED|ASK|CLUSTERDOWN)\b/.test(error.message)) return 'SLOT_MOVING';
  return undefined;
}

/**
 * How long `KccRedis.run` goes on retrying a command whose slot is moving, after ioredis's own
 * tries (about 1.6 s): together under Keycloak's default outgoing HTTP timeout (5 s,
 * `socket-timeout-millis`), which a back-channel logout waits on. A revocation still refused then is
 * kept and written again on the next poll.
 */
export const SLOT_MOVING_RETRY_MS = 2_500;
