/** The outcome of one probe of `kcc-redis check`. */
export interface ProbeResult {
  /** What was probed, e.g. "TLS", "default user cannot log in". */
  readonly probe: string;
  /** `pass`, `fail` (a problem: exit 1), `warn` (worth a look, not a failure), `skip` (not run, and why). */
  readonly status: 'pass' | 'fail' | 'warn' | 'skip';
  readonly detail: string;
}
