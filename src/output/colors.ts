import { Chalk } from 'chalk';

/** Colour only for a TTY and when NO_COLOR is unset (chalk already honours FORCE_COLOR). */
function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

const c = new Chalk({ level: colorEnabled() ? 1 : 0 });

export const colors = {
  ok: (s: string) => c.green(s),
  warn: (s: string) => c.yellow(s),
  fail: (s: string) => c.red(s),
  dim: (s: string) => c.dim(s),
  bold: (s: string) => c.bold(s),
  head: (s: string) => c.cyan(s),
};

/** Colour a pass/warn/fail status word. */
export function statusWord(status: 'pass' | 'warn' | 'fail' | 'skip' | string): string {
  switch (status) {
    case 'pass':
    case 'ok':
      return colors.ok(status);
    case 'warn':
      return colors.warn(status);
    case 'fail':
    case 'failed':
      return colors.fail(status);
    default:
      return colors.dim(status);
  }
}
