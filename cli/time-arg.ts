import { CliUsageError } from './exit-codes.js';

/** How far in the future a not-before may be: Keycloak's clocks and ours may differ a little, never more. */
export const MAX_FUTURE_SKEW_S = 60;

/**
 * A time argument as epoch seconds: `now`, whole epoch seconds (`1767225600`), or an ISO 8601 time
 * with a zone (`2026-01-01T00:00:00Z`). A not-before later than now + 60 s is refused: it would make
 * every instance (and every instance started later) refuse every token until then.
 */
export function parseNotBefore(command: string, option: string, raw: string, now = Date.now()): number {
  const nowS = Math.floor(now / 1000);
  let seconds: number;
  if (raw === 'now') seconds = nowS;
  else if (/^\d{1,12}$/.test(raw)) seconds = Number(raw);
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw) && Number.isFinite(Date.parse(raw))) seconds = Math.floor(Date.parse(raw) / 1000);
  else throw new CliUsageError(`${option} "${raw}" is not a time: give "now", epoch seconds (e.g. ${nowS}) or an ISO 8601 time with a zone (e.g. ${new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')})`, command);
  if (seconds > nowS + MAX_FUTURE_SKEW_S) {
    throw new CliUsageError(`${option} "${raw}" is in the future: a not-before after now would refuse every token until then, on every instance; give "now" or an earlier time`, command);
  }
  return seconds;
}
