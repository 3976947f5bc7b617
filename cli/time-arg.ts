import { EPOCH_BASE_S } from '../client/src/revocation/session-table.js';
import { CliUsageError } from './exit-codes.js';

/** How far in the future a not-before may be: Keycloak's clocks and ours may differ a little, never more. */
export const MAX_FUTURE_SKEW_S = 60;

/**
 * The earliest not-before taken, 2023-11-14T22:13:21Z: the client refuses one at or before its epoch
 * (`revokeSubject` / `revokeAllBefore`: it revokes nothing a running instance holds), so the command
 * refuses it before asking, not after the confirmation with a failed write.
 */
export const MIN_NOT_BEFORE_S = EPOCH_BASE_S + 1;

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Refuses an ISO time whose calendar fields do not exist (`2026-02-30`, `2026-11-31`, `T24:00`,
 * `:60`): Date.parse moves them to a later valid time (2026-02-30 is 2026-03-02), which for a
 * not-before would revoke more than the operator wrote. The fields, read in the time's own zone,
 * must come back as written.
 */
function refuseImpossible(command: string, option: string, raw: string): void {
  const written = ISO_TIME.exec(raw)!.slice(1, 7).map((field) => Number(field ?? 0));
  const [year, month, day, hour, minute, second] = written as [number, number, number, number, number, number];
  // The fields alone, as UTC (the zone offset does not change whether they exist; Date.parse already refuses an offset past 23:59).
  const back = new Date(0);
  back.setUTCFullYear(year, month - 1, day); // not Date.UTC, which reads years 0-99 as 1900-1999
  back.setUTCHours(hour, minute, second, 0);
  if ([back.getUTCFullYear(), back.getUTCMonth() + 1, back.getUTCDate(), back.getUTCHours(), back.getUTCMinutes(), back.getUTCSeconds()].some((field, i) => field !== written[i])) {
    throw new CliUsageError(`${option} "${raw}" is not a date and time that exists (month 01-12, a day the month has, hour 00-23, minute and second 00-59, zone offset up to 23:59): correct it; nothing was changed`, command);
  }
}

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
  else if (ISO_TIME.test(raw) && Number.isFinite(Date.parse(raw))) {
    refuseImpossible(command, option, raw);
    seconds = Math.floor(Date.parse(raw) / 1000);
  } else throw new CliUsageError(`${option} "${raw}" is not a time: give "now", epoch seconds (e.g. ${nowS}) or an ISO 8601 time with a zone (e.g. ${new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z')})`, command);
  // A number like 20260501 is a date written as digits (read as epoch seconds: 1970-08-23), and such a
  // not-before revokes nothing while the command says done; nor does any before November 2023.
  if (seconds < MIN_NOT_BEFORE_S) {
    throw new CliUsageError(
      `${option} "${raw}" is ${new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}, before any token an instance holds (epoch seconds from ${MIN_NOT_BEFORE_S}, 2023-11-14T22:13:21Z): give "now", epoch seconds (e.g. ${nowS}) or an ISO 8601 time with a zone (e.g. 2026-05-01T00:00:00Z); nothing was changed`,
      command,
    );
  }
  if (seconds > nowS + MAX_FUTURE_SKEW_S) {
    throw new CliUsageError(`${option} "${raw}" is in the future: a not-before after now would refuse every token until then, on every instance; give "now" or an earlier time`, command);
  }
  return seconds;
}
