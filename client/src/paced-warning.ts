import type { KccLogger } from './logger.js';

/** How often a paced warning of one kind is said: the rest are counted, and said with the next. */
export const PACED_WARNING_INTERVAL_MS = 60_000;

/**
 * A `warn` for something that repeats (a refused request, a failing reconnect): at most one a minute
 * ({@link PACED_WARNING_INTERVAL_MS}) for each `what`, the next one saying how many were not logged
 * since. `what` names the kind from a fixed set (never a token or a value from a request). A clock
 * set back says the next one at once.
 */
export function pacedWarner(logger: KccLogger): (what: string, message: string, context?: Record<string, unknown>) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (what, message, context) => {
    const now = Date.now();
    const seen = last.get(what);
    if (seen !== undefined && now - seen.at < PACED_WARNING_INTERVAL_MS && now >= seen.at) {
      seen.suppressed += 1;
      return;
    }
    last.set(what, { at: now, suppressed: 0 });
    const more = seen !== undefined && seen.suppressed > 0 ? ` (${seen.suppressed} more like it since the last such warning, not logged)` : '';
    logger.warn(`${message}${more}`, context);
  };
}
