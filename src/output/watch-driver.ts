/**
 * Runs a --watch to its end on stdout: on a terminal (and without --json) each sample redraws the
 * live view in place (cursor home, each line cleared to its end, the rest of the screen cleared),
 * with the cursor hidden until the watch ends; otherwise each sample is one NDJSON line. A reader
 * that goes away (`| head -3`: EPIPE) ends the watch as Ctrl-C does.
 */
import { withAdminSession } from '../admin/session.js';
import type { AdminSession, AdminTargetOptions } from '../admin/session.js';
import { runWatch, type SampleInput, type WatchSample } from '../admin/watch.js';
import { renderWatchFrame, sampleLine, type WatchInfo, type WatchMode } from './watch-render.js';

const HIDE_CURSOR = '\u001b[?25l';
const SHOW_CURSOR = '\u001b[?25h';
const HOME = '\u001b[H';
const CLEAR_SCREEN = '\u001b[2J';
const CLEAR_LINE_END = '\u001b[K';
const CLEAR_BELOW = '\u001b[J';

interface DriveOptions<M extends WatchMode> {
  command: string;
  mode: M;
  /** The command line for the view's title. */
  title: string;
  intervalS: number;
  json: boolean;
  signal: AbortSignal;
  sample: () => Promise<SampleInput<WatchInfo[M]>>;
}

/** Returns the number of samples shown. */
async function driveWatch<M extends WatchMode>(o: DriveOptions<M>): Promise<number> {
  const out = process.stdout;
  const live = !o.json && out.isTTY === true;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  const onOutError = () => stop.abort();
  out.on('error', onOutError);
  const restore = () => out.write(SHOW_CURSOR);
  if (live) {
    out.write(HIDE_CURSOR + CLEAR_SCREEN);
    process.once('exit', restore);
  }
  const show = (s: WatchSample<WatchInfo[M]>) => {
    if (stop.signal.aborted) return;
    if (!live) {
      out.write(JSON.stringify(sampleLine(o.command, o.mode, s)) + '\n');
      return;
    }
    const frame = renderWatchFrame(o.mode, s, { title: o.title, intervalS: o.intervalS, maxLines: out.rows ? out.rows - 1 : undefined });
    out.write(HOME + frame.split('\n').map((l) => l + CLEAR_LINE_END).join('\n') + '\n' + CLEAR_BELOW);
  };
  try {
    return await runWatch({ intervalMs: o.intervalS * 1000, sample: o.sample, onSample: show, signal: stop.signal });
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    out.off('error', onOutError);
    if (live) {
      process.off('exit', restore);
      restore();
    }
  }
}

/** driveWatch over one admin session kept open for the whole watch (connections are reused). */
export async function watchAdmin<M extends WatchMode>(
  target: AdminTargetOptions,
  o: Omit<DriveOptions<M>, 'sample'> & { sampler: (s: AdminSession) => () => Promise<SampleInput<WatchInfo[M]>> },
): Promise<number> {
  return withAdminSession(target, (s) => driveWatch({ ...o, sample: o.sampler(s) }));
}
