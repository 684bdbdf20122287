/**
 * Spinners (ora) on stderr, only when stderr is a terminal that says how wide it is, TERM is not
 * "dumb", CI is unset and --json is off. A pseudo-terminal with no size (`script`, `docker exec -t`
 * without a window size) reports 0 columns, and ora then never finishes clearing its line.
 * ora is imported lazily so commands that never spin do not pay for it at start-up.
 */
interface Spinner {
  /** Replace the text shown (progress); nothing when there is no spinner. */
  update(text: string): void;
  succeed(text?: string): void;
  fail(text?: string): void;
  stop(): void;
}

const noop: Spinner = { update() {}, succeed() {}, fail() {}, stop() {} };

async function startSpinner(text: string, json: boolean): Promise<Spinner> {
  if (json || !spinnerTerminal()) return noop;
  const { default: ora } = await import('ora');
  const s = ora({ text, stream: process.stderr }).start();
  return {
    update: (t) => void (s.text = t),
    succeed: (t) => void s.succeed(t),
    fail: (t) => void s.fail(t),
    stop: () => void s.stop(),
  };
}

function spinnerTerminal(): boolean {
  const err = process.stderr;
  return err.isTTY === true && (err.columns ?? 0) > 0 && process.env.TERM !== 'dumb' && !process.env.CI;
}

/** Run `fn` under a spinner; the spinner is stopped (red "failed") before an error propagates. */
export async function withSpinner<T>(text: string, json: boolean, fn: (spinner: Spinner) => Promise<T>): Promise<T> {
  const spinner = await startSpinner(text, json);
  try {
    const out = await fn(spinner);
    spinner.stop();
    return out;
  } catch (err) {
    spinner.fail(`${text} failed`);
    throw err;
  }
}
