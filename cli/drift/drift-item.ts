/** One finding of `kcc-redis drift`. */
export interface DriftItem {
  /** What was compared, e.g. `user kcc-redis-shop-dev`, `user group kcc-redis-users`, `replication group kcc-redis`, `serverless cache kcc-redis`. */
  readonly resource: string;
  /** Which aspect, e.g. `access string`, `members`, `transit encryption`. */
  readonly aspect: string;
  /** `ok`: as the config would create it; `drift`: not (exit 1); `note`: worth knowing, not drift. */
  readonly status: 'ok' | 'drift' | 'note';
  readonly detail: string;
}
