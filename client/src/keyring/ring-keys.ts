/** Where the key ring lives in an app-env's namespace (names passed to `redis.key()`). */
export const KEY_RING_KEYS = {
  /** The ring's versioned value (a hash `{ version, value }` written by compare-and-set). */
  ring: 'keyring',
  /**
   * The ring's event log. Low volume, read by a blocking tail; kept apart from the revocation log so
   * a logout burst never wakes every instance's key-ring reader.
   */
  log: 'keyring-events',
  /** The lock of creation, rotation, write-back and re-encryption. */
  lock: 'keyring-rotation',
} as const;

/** Event type appended (atomically with the write) whenever the ring changes. */
export const KEY_RING_CHANGED = 'keyring-changed';

/**
 * Event type any instance may append to ask every instance to re-read the ring now (a starting
 * instance found the ring older than the log says: running instances write back the newer one).
 */
export const KEY_RING_CHECK = 'keyring-check';
