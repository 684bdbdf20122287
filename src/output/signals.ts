import { colors } from './colors.js';

/** The first SIGINT or SIGTERM (long-running commands that stop cleanly on either: broker start, exporter). */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * The log of a long-running server command (broker start, namesrv start): warnings and errors on
 * stderr as they happen, info only with ROCKETCTL_DEBUG set. (The shape of the broker's Logger,
 * written out: output does not import remoting.)
 */
export function serverLogger(): { info(m: string): void; warn(m: string): void; error(m: string): void } {
  const debug = Boolean(process.env.ROCKETCTL_DEBUG);
  return {
    info: (m) => {
      if (debug) process.stderr.write(`${m}\n`);
    },
    warn: (m) => process.stderr.write(colors.warn(`warning: ${m}`) + '\n'),
    error: (m) => process.stderr.write(colors.fail(`error: ${m}`) + '\n'),
  };
}
