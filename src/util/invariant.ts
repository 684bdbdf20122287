/**
 * Invariants that comments state, checked where they must hold. A broken one is a bug in
 * rocketctl, never a user error: it throws at once (tests fail loudly) instead of letting the
 * store carry on from a state it was never meant to be in.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(condition: unknown, what: () => string): asserts condition {
  if (!condition) throw new InvariantError(`internal invariant broken: ${what()}`);
}
