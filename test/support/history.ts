/**
 * A history of what app instances did with `Revocations` (revocations invoked and how their promises
 * settled, check() answers) and with `KeyRing` (client assertions signed, verified against each
 * instance's JWKS), faults and losses of Redis' data, with times on the monotonic clock of the one
 * process that ran them; and a checker of the properties docs/logout-sync.md and docs/signing-keys.md
 * promise over any such history. The checker knows the client only through what the history
 * records; it is pure, so that hand-written histories show that it can fail.
 */

/** The claims of one access token, as the app passes them to check(). */
export interface TokenClaims {
  readonly sid: string;
  readonly sub: string;
  /** Epoch seconds. */
  readonly iat: number;
  readonly scope?: string;
}

export type Revocation =
  | { readonly kind: 'session'; readonly sid: string }
  | { readonly kind: 'session-up-to'; readonly sid: string; readonly upTo: number }
  | { readonly kind: 'subject'; readonly sub: string; readonly notBefore: number }
  | { readonly kind: 'all-before'; readonly notBefore: number };

export type CheckAnswer = 'revoked' | 'active' | 'stale';

/** One event; `at` is performance.now() of the recording process. The array order is program order. */
export type HistoryEvent =
  | { readonly type: 'instance'; readonly at: number; readonly instance: number }
  /** The instance's Revocations closed, `unconfirmed` (stats.unconfirmed) left unwritten; it checks nothing more. */
  | { readonly type: 'closed'; readonly at: number; readonly instance: number; readonly unconfirmed: number }
  | { readonly type: 'token'; readonly at: number; readonly token: TokenClaims }
  | { readonly type: 'invoke'; readonly at: number; readonly op: number; readonly instance: number; readonly revocation: Revocation }
  | { readonly type: 'ok'; readonly at: number; readonly op: number }
  | { readonly type: 'fail'; readonly at: number; readonly op: number; readonly error: string }
  | { readonly type: 'check'; readonly at: number; readonly instance: number; readonly token: TokenClaims; readonly answer: CheckAnswer }
  | { readonly type: 'fault'; readonly at: number; readonly what: string }
  /** Redis lost its data somewhere between `from` and `at` (a restart without persistence). */
  | { readonly type: 'loss'; readonly at: number; readonly from: number }
  | { readonly type: 'note'; readonly at: number; readonly instance: number; readonly text: string }
  /** A client assertion signed by `instance` with `kid` from its ring's `generation`, once signed; or its signing failed (`error`). */
  | { readonly type: 'sign'; readonly at: number; readonly op: number; readonly instance: number; readonly kid?: string; readonly generation?: number; readonly error?: string }
  /** Assertion `op` verified with `instance`'s currentJwks(); `readOverdue` and `generation` are that instance's health() once it answered. */
  | { readonly type: 'verify'; readonly at: number; readonly op: number; readonly instance: number; readonly ok: boolean; readonly readOverdue: boolean; readonly generation?: number; readonly error?: string }
  /** Every fault healed and every instance caught up (or the wait gave up): the checks after this are the final round. */
  | { readonly type: 'final'; readonly at: number };

/**
 * docs/logout-sync.md, "What can be revoked": a session revoked up to a time lets through the tokens
 * of that sid "issued (`iat`) more than 5 s (`SESSION_UP_TO_SLACK_SECONDS`) after the time whose
 * `scope` holds `offline_access`". Written out here rather than imported: the checker is the docs' reading.
 */
const SESSION_UP_TO_SLACK_S = 5;

const hasOfflineAccess = (token: TokenClaims): boolean => (token.scope ?? '').split(' ').includes('offline_access');

/** Whether `revocation` refuses `token` (docs/logout-sync.md, "What can be revoked"). */
export function covers(revocation: Revocation, token: TokenClaims): boolean {
  switch (revocation.kind) {
    case 'session':
      return revocation.sid === token.sid;
    case 'session-up-to':
      return revocation.sid === token.sid && (!hasOfflineAccess(token) || token.iat <= revocation.upTo + SESSION_UP_TO_SLACK_S);
    case 'subject':
      // "tokens of that `sub` issued (`iat`) before the time"
      return revocation.sub === token.sub && token.iat < revocation.notBefore;
    case 'all-before':
      return token.iat < revocation.notBefore;
  }
}

export const tokenKey = (token: TokenClaims): string => `${token.sid}|${token.sub}|${token.iat}|${token.scope ?? ''}`;

/** Records a history; every method takes the time itself, before the act for checks and invocations. */
export class History {
  readonly events: HistoryEvent[] = [];
  private nextOp = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  instance(instance: number): void {
    this.events.push({ type: 'instance', at: this.now(), instance });
  }

  closed(instance: number, unconfirmed: number): void {
    this.events.push({ type: 'closed', at: this.now(), instance, unconfirmed });
  }

  token(token: TokenClaims): TokenClaims {
    this.events.push({ type: 'token', at: this.now(), token });
    return token;
  }

  fault(what: string): void {
    this.events.push({ type: 'fault', at: this.now(), what });
  }

  /** Redis lost its data after `from` (taken before the restart began) and before now (it is back). */
  loss(from: number): void {
    this.events.push({ type: 'loss', at: this.now(), from });
  }

  note(instance: number, text: string): void {
    this.events.push({ type: 'note', at: this.now(), instance, text });
  }

  final(): void {
    this.events.push({ type: 'final', at: this.now() });
  }

  /** Records an assertion `instance` signed with `kid` (or failed to sign: `error`); returns its op for {@link verified}. */
  signed(instance: number, outcome: { kid: string; generation: number } | { error: string }): number {
    const op = this.nextOp++;
    this.events.push({ type: 'sign', at: this.now(), op, instance, ...outcome });
    return op;
  }

  verified(op: number, instance: number, outcome: { ok: boolean; readOverdue: boolean; generation?: number; error?: string }): void {
    this.events.push({ type: 'verify', at: this.now(), op, instance, ...outcome });
  }

  /** Runs `check` (synchronous) and records its answer with the time taken just before it. */
  check(instance: number, token: TokenClaims, check: (token: TokenClaims) => CheckAnswer): CheckAnswer {
    const at = this.now();
    const answer = check(token);
    this.events.push({ type: 'check', at, instance, token, answer });
    return answer;
  }

  /** Invokes `revoke` and records the invocation, then its outcome; the promise returned never rejects. */
  revoke(instance: number, revocation: Revocation, revoke: () => Promise<void>): Promise<void> {
    const op = this.nextOp++;
    this.events.push({ type: 'invoke', at: this.now(), op, instance, revocation });
    let write: Promise<void>;
    try {
      write = revoke();
    } catch (error) {
      write = Promise.reject(error);
    }
    return write.then(
      () => void this.events.push({ type: 'ok', at: this.now(), op }),
      (error: unknown) => void this.events.push({ type: 'fail', at: this.now(), op, error: error instanceof Error ? error.message : String(error) }),
    );
  }
}

export type ViolationKind =
  /** Property 1: 'active' after maxStalenessMs (+ slack) from an acknowledged revocation covering the token. */
  | 'missed-logout'
  /** A revocation invoked on an instance is refused there at once, Redis or not. */
  | 'own-logout-not-refused'
  /** An instance that answered 'revoked' for a token answered otherwise later. */
  | 'forgotten'
  /** Property 2: 'revoked' with no revocation invoked before that covers the token. */
  | 'false-revoked'
  /** Property 3: in the final round, a covered token not answered 'revoked'. */
  | 'lost-after-heal'
  /** Property 3: in the final round, a token nothing covers answered 'stale'. */
  | 'not-fresh-after-heal'
  /** Property 3: an instance and token of the history that the final round did not check. */
  | 'unchecked-after-heal'
  /** Property 4: signing failed (it never does: an instance signs with the ring it holds). */
  | 'sign-failed'
  /** Property 4: an assertion did not verify with its own signer's JWKS. */
  | 'own-key-unpublished'
  /** Property 4: an assertion did not verify with another instance's JWKS, whose ring read was not overdue. */
  | 'failed-login'
  /** Property 4: an assertion did not verify in the final round. */
  | 'failed-login-after-heal';

export interface Violation {
  readonly kind: ViolationKind;
  /** Index in the events of the check that shows it (the last event for an unchecked pair). */
  readonly index: number;
  readonly message: string;
}

export interface CheckerOptions {
  readonly maxStalenessMs: number;
  /** Added to maxStalenessMs before an 'active' answer counts as a missed logout. @default 1 */
  readonly slackMs?: number;
}

export interface HistoryStats {
  readonly checks: number;
  readonly answers: Readonly<Record<CheckAnswer, number>>;
  readonly revocations: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly pending: number;
  /** Checks property 1 bound: a covering revocation acknowledged more than the bound before (on another instance). */
  readonly boundChecks: number;
  /** Of those, checks before the final round. */
  readonly boundChecksBeforeFinal: number;
  readonly faults: number;
  readonly losses: number;
  readonly signed: number;
  readonly verified: number;
  /** Verifications that failed where the verifier's ring read was overdue (allowed). */
  readonly failedWhileOverdue: number;
  /** Verifications that failed after a loss of Redis' data, on a verifier whose ring generation is not newer than the signer's (allowed). */
  readonly failedParted: number;
}

export interface CheckReport {
  readonly violations: readonly Violation[];
  readonly stats: HistoryStats;
}

interface RevocationRecord {
  readonly op: number;
  readonly instance: number;
  readonly revocation: Revocation;
  readonly invokedAt: number;
  okAt?: number;
  failedAt?: number;
}

/** The properties docs/logout-sync.md and docs/signing-keys.md promise, over `events`; each rule cites the sentence it rests on. */
export function checkHistory(events: readonly HistoryEvent[], options: CheckerOptions): CheckReport {
  const slackMs = options.slackMs ?? 1;
  const bound = options.maxStalenessMs + slackMs;
  const violations: Violation[] = [];
  const revocations = new Map<number, RevocationRecord>();
  const losses: { from: number; at: number }[] = [];
  const instances = new Set<number>();
  /** Instances closed with revocations Redis had not confirmed: which of theirs were given up is not known. */
  const gaveUp = new Set<number>();
  const tokens = new Map<string, TokenClaims>();
  const knownRevoked = new Map<number, Set<string>>();
  const finalChecked = new Set<string>();
  const answers: Record<CheckAnswer, number> = { revoked: 0, active: 0, stale: 0 };
  let checks = 0;
  let boundChecks = 0;
  let boundChecksBeforeFinal = 0;
  let faults = 0;
  let inFinal = false;
  const signs = new Map<number, { instance: number; kid?: string; generation?: number }>();
  let verified = 0;
  let failedWhileOverdue = 0;
  let failedParted = 0;
  const violate = (kind: ViolationKind, index: number, message: string) => violations.push({ kind, index, message });

  events.forEach((event, index) => {
    switch (event.type) {
      case 'instance':
        instances.add(event.instance);
        return;
      case 'closed':
        instances.delete(event.instance);
        if (event.unconfirmed > 0) gaveUp.add(event.instance);
        return;
      case 'token':
        tokens.set(tokenKey(event.token), event.token);
        return;
      case 'invoke':
        revocations.set(event.op, { op: event.op, instance: event.instance, revocation: event.revocation, invokedAt: event.at });
        return;
      case 'ok':
        revocations.get(event.op)!.okAt = event.at;
        return;
      case 'fail':
        revocations.get(event.op)!.failedAt = event.at;
        return;
      case 'fault':
        faults++;
        return;
      case 'loss':
        losses.push({ from: event.from, at: event.at });
        return;
      case 'note':
        return;
      case 'sign':
        signs.set(event.op, { instance: event.instance, kid: event.kid, generation: event.generation });
        // docs/signing-keys.md: "It keeps signing all the same (failing would fail every login through it)".
        if (event.error !== undefined) violate('sign-failed', index, `instance ${event.instance} failed to sign an assertion: ${event.error}`);
        return;
      case 'verify': {
        verified++;
        if (event.ok) return;
        const sign = signs.get(event.op);
        const what = `assertion #${event.op} signed by instance ${sign?.instance} with kid ${sign?.kid} of generation ${sign?.generation} did not verify with instance ${event.instance}'s JWKS of generation ${event.generation} (${event.error ?? 'no error'}; read overdue: ${event.readOverdue})`;
        // After a loss of Redis' data the instances' rings can part: docs/security-model.md, "a rewind
        // of the ring and its event log together: a failover that lost the last writes [...] With any
        // instance running that saw the newer ring, the rewind is undone within refreshIntervalMs"; and
        // docs/signing-keys.md, a ring written anew after Redis lost one: "of two rings of one
        // generation, every instance keeps the one written earlier", a login through another instance
        // failing until then. An instance that holds the older or the losing ring is current as far as
        // Redis tells it; under faults the instances that hold the other may not reach Redis for
        // longer: no bound. A verifier holding a newer generation than the signer has no such excuse.
        const parted = losses.length > 0 && event.generation !== undefined && sign?.generation !== undefined && event.generation <= sign.generation;
        // "active | yes (in the JWKS) | every assertion"
        if (sign?.instance === event.instance) violate('own-key-unpublished', index, what);
        else if (inFinal) violate('failed-login-after-heal', index, what);
        // "next | from the moment the instance holds the ring that adds it"; "A rotation written since
        // activates no earlier than activationDelayMs after its write, so up to then the key held here
        // is still the one every instance signs with"; the JWKS route answers no-cache only "if the
        // read is still overdue after that (Redis out of reach): the set held may lack a key activated
        // elsewhere at once". With activationDelayMs above refreshIntervalMs and a second, a set that
        // lacks a key another instance signs with belongs to an instance whose read is overdue.
        else if (event.readOverdue) failedWhileOverdue++;
        else if (parted) failedParted++;
        else violate('failed-login', index, what);
        return;
      }
      case 'final':
        inFinal = true;
        return;
      case 'check':
        break;
    }
    checks++;
    answers[event.answer]++;
    const { instance, token, answer, at } = event;
    const key = tokenKey(token);
    const who = `instance ${instance} answered '${answer}' for ${describeToken(token)}`;
    // Invoked before the check in program order (the array's order): only those can have been applied.
    const covering = [...revocations.values()].filter((r) => covers(r.revocation, token));
    // "When Redis loses its data, only running instances remember": what Redis acknowledged before a
    // loss comes back only when an instance writes it again, at a time the docs do not bound.
    const lostSince = (r: RevocationRecord) => losses.some((loss) => r.okAt !== undefined && r.okAt <= loss.at && loss.from < at);
    // Property 1. "An instance that has not been in contact with Redis for longer than maxStalenessMs
    // [...] answers 'stale' instead of 'active'", and "Staleness is decided at the moment of each
    // check(): the time since the start of the last read that brought the state up to date, on the
    // monotonic clock." A read begun after the write was acknowledged brings it; an 'active' answer
    // needs a read begun less than maxStalenessMs before the check. `at` of the check is taken before
    // check() reads the clock, `okAt` after the promise resolved: both err towards allowing 'active'.
    // The slack covers only '>' against '>=' and float rounding of the two readings.
    const bounding = covering.filter((r) => r.okAt !== undefined && at - r.okAt > bound && r.instance !== instance && !lostSince(r));
    if (bounding.length > 0) {
      boundChecks++;
      if (!inFinal) boundChecksBeforeFinal++;
    }
    if (answer === 'revoked') {
      let known = knownRevoked.get(instance);
      if (!known) knownRevoked.set(instance, (known = new Set()));
      known.add(key);
      // Property 2: "Never a false 'active'" has its twin: a never-revoked id is refused only on a
      // digest collision, below 10^-20 here ("The index" in docs/logout-sync.md).
      if (covering.length === 0) violate('false-revoked', index, `${who}, and no revocation invoked before covers it`);
    } else {
      // "applied on the receiving instance before it answers"; "revocations the instance already knows are still refused".
      const own = covering.find((r) => r.instance === instance);
      if (own) violate('own-logout-not-refused', index, `${who}, revoked on this instance by ${describeRecord(own)}`);
      // "Revocations known to an instance are never forgotten because of an outage."
      if (knownRevoked.get(instance)?.has(key)) violate('forgotten', index, `${who}, which it answered 'revoked' before`);
      if (answer === 'active' && bounding.length > 0) {
        const r = bounding[0]!;
        violate('missed-logout', index, `${who}, covered by ${describeRecord(r)}: acknowledged ${(at - r.okAt!).toFixed(1)} ms before, past maxStalenessMs ${options.maxStalenessMs} + slack ${slackMs}`);
      }
    }
    if (inFinal) {
      // Property 3, "Once the instance has caught up with everything Redis holds, it emits fresh and
      // answers 'active' again", and a revocation Redis did not take "is written again at that
      // instance's next reconnect and then at every poll", whatever its promise did: every one invoked
      // is due, but those of an instance that closed before Redis confirmed them: "Any left then are
      // logged (only this instance had them)" (close(), docs/logout-sync.md).
      finalChecked.add(`${instance}|${key}`);
      const due = covering.filter((r) => r.okAt !== undefined || !gaveUp.has(r.instance));
      if (due.length > 0 && answer !== 'revoked') {
        violate('lost-after-heal', index, `${who} after every fault healed, covered by ${due.map(describeRecord).join('; ')}`);
      } else if (due.length === 0 && answer === 'stale') {
        violate('not-fresh-after-heal', index, `${who} after every fault healed`);
      }
    }
  });

  if (inFinal) {
    for (const instance of instances) {
      for (const [key, token] of tokens) {
        if (!finalChecked.has(`${instance}|${key}`)) violate('unchecked-after-heal', events.length - 1, `the final round did not check ${describeToken(token)} on instance ${instance}`);
      }
    }
  }

  const all = [...revocations.values()];
  return {
    violations,
    stats: {
      checks,
      answers,
      revocations: all.length,
      acknowledged: all.filter((r) => r.okAt !== undefined).length,
      failed: all.filter((r) => r.failedAt !== undefined).length,
      pending: all.filter((r) => r.okAt === undefined && r.failedAt === undefined).length,
      boundChecks,
      boundChecksBeforeFinal,
      faults,
      losses: losses.length,
      signed: signs.size,
      verified,
      failedWhileOverdue,
      failedParted,
    },
  };
}

function describeToken(token: TokenClaims): string {
  return `sid=${token.sid} sub=${token.sub} iat=${token.iat}${token.scope ? ` scope='${token.scope}'` : ''}`;
}

function describeRevocation(revocation: Revocation): string {
  switch (revocation.kind) {
    case 'session':
      return `revokeSession(${revocation.sid})`;
    case 'session-up-to':
      return `revokeSession(${revocation.sid}, { issuedUpTo: ${revocation.upTo} })`;
    case 'subject':
      return `revokeSubject(${revocation.sub}, ${revocation.notBefore})`;
    case 'all-before':
      return `revokeAllBefore(${revocation.notBefore})`;
  }
}

function describeRecord(r: RevocationRecord): string {
  const outcome = r.okAt !== undefined ? `ok at ${r.okAt.toFixed(1)}` : r.failedAt !== undefined ? `failed at ${r.failedAt.toFixed(1)}` : 'pending';
  return `op #${r.op} ${describeRevocation(r.revocation)} on instance ${r.instance} (invoked at ${r.invokedAt.toFixed(1)}, ${outcome})`;
}

/** One line per event, times in ms as recorded. */
export function formatEvent(event: HistoryEvent): string {
  const at = event.at.toFixed(1).padStart(10);
  switch (event.type) {
    case 'instance':
      return `${at}  instance ${event.instance} started`;
    case 'closed':
      return `${at}  instance ${event.instance} closed, ${event.unconfirmed} unconfirmed`;
    case 'token':
      return `${at}  token ${describeToken(event.token)}`;
    case 'invoke':
      return `${at}  [${event.instance}] invoke #${event.op} ${describeRevocation(event.revocation)}`;
    case 'ok':
      return `${at}  ok #${event.op}`;
    case 'fail':
      return `${at}  fail #${event.op}: ${event.error}`;
    case 'check':
      return `${at}  [${event.instance}] check ${describeToken(event.token)} -> ${event.answer}`;
    case 'fault':
      return `${at}  FAULT ${event.what}`;
    case 'loss':
      return `${at}  LOSS of Redis' data since ${event.from.toFixed(1)}`;
    case 'note':
      return `${at}  [${event.instance}] note: ${event.text}`;
    case 'final':
      return `${at}  final round`;
    case 'sign':
      return `${at}  [${event.instance}] sign #${event.op} ${event.error === undefined ? `kid ${event.kid} of generation ${event.generation}` : `failed: ${event.error}`}`;
    case 'verify':
      return `${at}  [${event.instance}] verify #${event.op} with generation ${event.generation} -> ${event.ok ? 'ok' : `failed (${event.error ?? ''})`}${event.readOverdue ? ', read overdue' : ''}`;
  }
}

/**
 * What a failure should say: the seed and steps that reproduce the run, each violation (up to
 * `max`), and for the first the `context` events up to it, the faults and losses of the whole run
 * included so that the fault at play is named even when it began long before.
 */
export function describeViolations(events: readonly HistoryEvent[], report: CheckReport, run: { seed: number; steps: number; variant: string }, context = 30, max = 10): string {
  const { violations, stats } = report;
  const lines = [
    `${violations.length} violation(s) in history seed=${run.seed} steps=${run.steps} variant=${run.variant} (reproduce: KCC_HISTORY_SEED=${run.seed} KCC_HISTORY_STEPS=${run.steps})`,
    `by kind: ${JSON.stringify(Object.fromEntries([...new Set(violations.map((v) => v.kind))].map((kind) => [kind, violations.filter((v) => v.kind === kind).length])))}`,
    `stats: ${JSON.stringify(stats)}`,
    ...violations.slice(0, max).map((v) => `- ${v.kind} at event ${v.index}: ${v.message}`),
  ];
  const first = violations[0];
  if (first) {
    lines.push(`faults of the run:`, ...events.filter((e) => e.type === 'fault' || e.type === 'loss').map(formatEvent));
    lines.push(`the ${context} events up to the first violation:`, ...events.slice(Math.max(0, first.index - context + 1), first.index + 1).map(formatEvent));
  }
  return lines.join('\n');
}
