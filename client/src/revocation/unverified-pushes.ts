/**
 * Where a Keycloak push stands in the order Keycloak sent them, from signed values only: when Keycloak
 * sent it (`expiration` = sending time + 30 s), and within one second the stricter (higher)
 * not-before. Nothing a Redis writer can add (no receipt time, no counter) takes part, so a replayed
 * realm-signed push can never come out newer than the one in force. The one case this settles
 * against Keycloak's own order — "Set to now" and then "Clear" within the same second — errs on the
 * strict side; pushing "Clear" again a second later is followed.
 */
export interface PushOrder {
  readonly expiration: number;
  readonly notBefore: number;
}

/** Whether `a` comes after `b` in Keycloak's order (anything comes after none). */
export const isNewer = (a: PushOrder, b: PushOrder | undefined): boolean =>
  b === undefined || a.expiration > b.expiration || (a.expiration === b.expiration && a.notBefore > b.notBefore);

/** Unverified pushes kept one by one; past this many they are kept as one (the newest claim, the highest not-before). */
export const MAX_UNVERIFIED_PUSHES = 64;

/**
 * Relayed or stored Keycloak pushes an instance enforces without having verified them (no verifier,
 * the realm's keys out of reach, or a verification still running), by signed action, with the order
 * each claims. Their not-befores only ever raise the pushed one. A push's raise ends when its own
 * verification verifies or refuses it, or when a verified push at least as new as it claims to be is
 * applied (it is then outdated, or forged). So no verified push ends a raise that claims to be newer:
 * a replayed older push, verified, does not take back a newer "Set to now" not verified yet (found by
 * review). Claims are bounded by the caller (an `expiration` no further ahead than Keycloak sends).
 */
export class UnverifiedPushes {
  private readonly byAction = new Map<string, PushOrder>();
  /** Past {@link MAX_UNVERIFIED_PUSHES} (a Redis writer flooding forged pushes): the newest claim and the highest not-before of the rest. */
  private overflow: { readonly newest: PushOrder; readonly notBefore: number } | undefined;

  add(action: string, claimed: PushOrder): void {
    if (this.byAction.has(action) || this.byAction.size < MAX_UNVERIFIED_PUSHES) {
      this.byAction.set(action, claimed);
      return;
    }
    const rest = this.overflow;
    this.overflow = {
      newest: rest === undefined || isNewer(claimed, rest.newest) ? claimed : rest.newest,
      notBefore: Math.max(rest?.notBefore ?? 0, claimed.notBefore),
    };
  }

  /** Ends the raise of `action` (verified, or refused); whether there was one. */
  end(action: string): boolean {
    return this.byAction.delete(action);
  }

  /** Ends every raise that claims to be no newer than `newest` (a verified push); whether any ended. */
  settle(newest: PushOrder): boolean {
    let ended = false;
    for (const [action, claimed] of this.byAction) {
      if (isNewer(claimed, newest)) continue;
      this.byAction.delete(action);
      ended = true;
    }
    if (this.overflow !== undefined && !isNewer(this.overflow.newest, newest)) {
      this.overflow = undefined;
      ended = true;
    }
    return ended;
  }

  /** The highest not-before still raised, 0 when none. */
  highest(): number {
    let highest = this.overflow?.notBefore ?? 0;
    for (const { notBefore } of this.byAction.values()) highest = Math.max(highest, notBefore);
    return highest;
  }

  /** The actions kept one by one: verified again once the realm's keys are back. */
  actions(): string[] {
    return [...this.byAction.keys()];
  }
}
