/**
 * What the CLI does with argv before oclif sees it: mqadmin's and git's ways of asking for help
 * (`help topicStatus`, `-h`), and an unknown command named as such, with the closest command ids
 * ("did you mean topicStatus?"), instead of oclif's bare "command X not found".
 */

import { DEFAULT_WATCH_INTERVAL_S } from '../admin/watch.js';

type Preflight = { kind: 'run'; argv: string[] } | { kind: 'unknown'; command: string; suggestions: string[] };

/**
 * `ids`: command ids with ":" between topic and command ("broker:start"), as in the manifest.
 * Returns the argv to run (possibly rewritten for help) or the unknown command.
 */
export function preflight(argv: readonly string[], ids: readonly string[]): Preflight {
  const args = helpFlag([...argv]);
  if (args.length === 0 || args[0]!.startsWith('-')) return { kind: 'run', argv: args };
  if (args[0] === 'help') return { kind: 'run', argv: args.length > 1 ? [...args.slice(1), '--help'] : ['--help'] };
  const words = ids.map((id) => id.split(':'));
  const known = (n: number) => words.some((w) => w.length >= n && w.slice(0, n).join(' ') === args.slice(0, n).join(' '));
  if (!known(1)) return { kind: 'unknown', command: args[0]!, suggestions: suggest(args[0]!, ids.map((id) => id.replace(/:/g, ' '))) };
  // A topic (`broker`, `store`) followed by a word that is none of its commands.
  const sub = args[1];
  if (!ids.includes(args[0]!) && sub !== undefined && !sub.startsWith('-') && !known(2)) {
    const inTopic = words.filter((w) => w[0] === args[0] && w.length > 1).map((w) => w.slice(1).join(' '));
    return { kind: 'unknown', command: `${args[0]} ${sub}`, suggestions: suggest(sub, inTopic).map((c) => `${args[0]} ${c}`) };
  }
  return { kind: 'run', argv: optionalValues(args) };
}

/** Commands whose flags may be given without their value, and the value then meant. */
const OPTIONAL_VALUES: Record<string, Record<string, string>> = {
  consumerProgress: { '--watch': String(DEFAULT_WATCH_INTERVAL_S) },
  topicStatus: { '--watch': String(DEFAULT_WATCH_INTERVAL_S) },
  brokerStatus: { '--watch': String(DEFAULT_WATCH_INTERVAL_S) },
};

/**
 * `--watch` with no value (last, or followed by another flag) gets its default, since oclif has no
 * flags with optional values; `--watch 5` and `--watch=5` pass as they are.
 */
function optionalValues(args: string[]): string[] {
  const defaults = OPTIONAL_VALUES[args[0] ?? ''];
  if (!defaults) return args;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]!);
    const value = defaults[args[i]!];
    const next = args[i + 1];
    if (value !== undefined && (next === undefined || next.startsWith('-'))) out.push(value);
  }
  return out;
}

/**
 * mqadmin's -h is help (no rocketctl command has a -h flag: test/cli/contract.test.ts), read as
 * such when it ends the line and does not follow a flag that may be waiting for its value
 * (`sendMessage -t T -p -h` sends the body "-h").
 */
function helpFlag(args: string[]): string[] {
  const n = args.length;
  if (n > 0 && args[n - 1] === '-h' && (n === 1 || !args[n - 2]!.startsWith('-'))) return [...args.slice(0, -1), '--help'];
  return args;
}

/** Command names close to `word`: same letters ignoring case, a prefix, or a few edits away. */
export function suggest(word: string, names: readonly string[]): string[] {
  const w = word.toLowerCase();
  const scored = names
    .map((n) => {
      const first = n.split(' ')[0]!.toLowerCase();
      const full = n.toLowerCase();
      if (full === w || first === w) return { n, d: 0 };
      if (first.startsWith(w) && w.length >= 3) return { n, d: 1 };
      return { n, d: editDistance(w, first) };
    })
    .filter((s) => s.d <= Math.max(2, Math.floor(w.length / 4)))
    .sort((a, b) => a.d - b.d || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  return scored.slice(0, 3).map((s) => s.n);
}

/** Levenshtein distance (small strings: command names). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
