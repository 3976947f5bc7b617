/**
 * ElastiCache's time windows (UTC): the weekly maintenance window `ddd:hh24:mi-ddd:hh24:mi` and
 * the daily snapshot window `hh24:mi-hh24:mi`, each at least 60 minutes long.
 */

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const MINUTES_PER_DAY = 24 * 60;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;
const MIN_WINDOW_MINUTES = 60;

const WEEKLY = /^(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)-(sun|mon|tue|wed|thu|fri|sat):([01]\d|2[0-3]):([0-5]\d)$/;
const DAILY = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

interface Span {
  readonly start: number;
  readonly length: number;
}

function weekly(window: string): Span | undefined {
  const m = WEEKLY.exec(window);
  if (!m) return undefined;
  const at = (day: string, h: string, min: string) =>
    DAYS.indexOf(day as (typeof DAYS)[number]) * MINUTES_PER_DAY + Number(h) * 60 + Number(min);
  const start = at(m[1]!, m[2]!, m[3]!);
  const end = at(m[4]!, m[5]!, m[6]!);
  return { start, length: (end - start + MINUTES_PER_WEEK) % MINUTES_PER_WEEK };
}

function daily(window: string): Span | undefined {
  const m = DAILY.exec(window);
  if (!m) return undefined;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  return { start, length: (end - start + MINUTES_PER_DAY) % MINUTES_PER_DAY };
}

export function maintenanceWindowProblem(window: string): string | undefined {
  const span = weekly(window);
  if (!span) return 'must look like "sun:05:00-sun:06:00" (ddd:hh24:mi-ddd:hh24:mi, UTC)';
  return span.length < MIN_WINDOW_MINUTES ? `must be at least ${MIN_WINDOW_MINUTES} minutes long` : undefined;
}

export function snapshotWindowProblem(window: string): string | undefined {
  const span = daily(window);
  if (!span) return 'must look like "03:00-04:00" (hh24:mi-hh24:mi, UTC)';
  return span.length < MIN_WINDOW_MINUTES ? `must be at least ${MIN_WINDOW_MINUTES} minutes long` : undefined;
}

/** Whether the daily snapshot window overlaps the weekly maintenance window on any day. */
export function windowsOverlap(snapshotWindow: string, maintenanceWindow: string): boolean {
  const snapshot = daily(snapshotWindow);
  const maintenance = weekly(maintenanceWindow);
  if (!snapshot || !maintenance) return false;
  for (let day = 0; day < 7; day++) {
    const start = day * MINUTES_PER_DAY + snapshot.start;
    for (const shift of [-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK]) {
      const s = start + shift;
      const m = maintenance.start;
      if (s < m + maintenance.length && m < s + snapshot.length) return true;
    }
  }
  return false;
}

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * A serverless cache's `DailySnapshotTime`: the time of day (UTC) its daily snapshot starts, `hh24:mi`,
 * as DescribeServerlessCaches reports it (e.g. "04:00").
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateServerlessCache.html
 */
export function dailySnapshotTimeProblem(time: string): string | undefined {
  return TIME_OF_DAY.test(time) ? undefined : 'must look like "04:00" (hh24:mi, UTC)';
}
