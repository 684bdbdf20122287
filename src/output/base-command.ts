import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { ExitCode, notRocketmqReply, RocketError, UsageError, type ExitCodeValue } from '../errors/index.js';
import { BodyFormatError } from '../protocol/fastjson.js';
import { errorEnvelope, successEnvelope } from './envelope.js';
import { colors } from './colors.js';
import { setRunningCommand } from './running-command.js';

/** oclif's FlagOutput / ArgOutput (not exported by its index). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OclifOutput = { [name: string]: any };

/**
 * Base for every rocketctl command: --json with one envelope on stdout, one-line errors on stderr,
 * exit codes from error types (0 ok, 1 error, 2 usage, 3 partial, 4 check failed, 10 bug).
 * A command's run() parses, calls a library, returns a typed result, and renders it when !json.
 */
export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true;

  /** Shared flag definitions: each command picks the ones it needs. */
  static readonly timeoutFlag = Flags.integer({
    summary: 'Request timeout in milliseconds.',
    default: 3000,
    min: 1,
    max: 600_000,
  });

  /** Commands that handle SIGINT/SIGTERM themselves (broker start) set this. */
  static ownsSignals = false;

  private exitStatus: ExitCodeValue = ExitCode.OK;
  private stopOnSignal?: (signal: NodeJS.Signals) => void;
  protected readonly warnings: string[] = [];

  /** Mark the (still printed) result as partial (3) or a failed check (4). */
  protected setStatus(status: ExitCodeValue, warning?: string): void {
    if (status > this.exitStatus) this.exitStatus = status;
    if (warning) this.warnings.push(warning);
  }

  protected warnUser(message: string): void {
    this.warnings.push(message);
  }

  /** Print human output to stdout (never in --json mode). */
  protected render(text: string): void {
    if (!this.jsonEnabled() && text !== '') process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  }

  protected override toSuccessJson(result: unknown): unknown {
    return successEnvelope(result as T, this.warnings, this.exitStatus);
  }

  /**
   * oclif's parse, plus: a flag given an empty value (`-t ''`) is a usage error, since no name,
   * address or id is empty (values from the environment, e.g. NAMESRV_ADDR='', are not affected).
   */
  protected override async parse<F extends OclifOutput, B extends OclifOutput, A extends OclifOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const out = await super.parse<F, B, A>(options, argv);
    for (const t of out.raw) {
      if (t.type === 'flag' && t.input === '') throw new UsageError(`flag ${flagLabel(this.ctor.flags?.[t.flag], t.flag)} needs a value, not an empty string`, ['see --help for the flags this command takes']);
    }
    // Integers past 2^53 lose digits as JavaScript numbers (99999999999999999999 -> 1e20).
    for (const [name, v] of Object.entries(out.flags as Record<string, unknown>)) {
      if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) {
        throw new UsageError(`flag ${flagLabel(this.ctor.flags?.[name], name)} is too large: at most ${Number.MAX_SAFE_INTEGER}`, ['see --help for the flags this command takes']);
      }
    }
    return out;
  }

  /**
   * Ctrl-C (SIGINT) or SIGTERM while a command runs: one line "Error: interrupted" (with --json
   * an error envelope, code E_INTERRUPTED) and exit 128 + the signal number, as a shell reports it.
   */
  override async init(): Promise<void> {
    await super.init();
    setRunningCommand(this.id);
    if ((this.ctor as unknown as typeof BaseCommand).ownsSignals) return;
    this.stopOnSignal = (signal) => {
      const code = signal === 'SIGINT' ? 130 : 143;
      const err = new RocketError(`interrupted (${signal}): the command did not finish`, { code: 'E_INTERRUPTED', exitCode: code as ExitCodeValue });
      if (this.jsonEnabled()) this.logJson(errorEnvelope(err));
      else process.stderr.write(formatErrorLine(err));
      process.exit(code);
    };
    process.once('SIGINT', this.stopOnSignal);
    process.once('SIGTERM', this.stopOnSignal);
  }

  /**
   * For a command that ends cleanly on Ctrl-C or SIGTERM (--watch: exit 0): the signals abort the
   * returned signal instead of ending the command as "interrupted".
   */
  protected stopSignal(): AbortSignal {
    const ac = new AbortController();
    if (this.stopOnSignal) {
      process.off('SIGINT', this.stopOnSignal);
      process.off('SIGTERM', this.stopOnSignal);
    }
    this.stopOnSignal = () => ac.abort();
    process.on('SIGINT', this.stopOnSignal);
    process.on('SIGTERM', this.stopOnSignal);
    return ac.signal;
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<void> {
    const rocket = toRocketError(err, this.ctor.flags);
    process.exitCode = rocket.exitCode;
    if (this.jsonEnabled()) {
      this.logJson(errorEnvelope(rocket));
    } else {
      process.stderr.write(formatErrorLine(rocket));
    }
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    if (this.stopOnSignal) {
      process.off('SIGINT', this.stopOnSignal);
      process.off('SIGTERM', this.stopOnSignal);
    }
    if (!err) {
      if (!this.jsonEnabled()) {
        for (const w of this.warnings) process.stderr.write(colors.warn(`warning: ${w}`) + '\n');
      }
      if (this.exitStatus !== ExitCode.OK) process.exitCode = this.exitStatus;
    }
    await super.finally(err);
  }
}

/** `-t/--topic`, or `--topic` for a flag without a short letter. */
function flagLabel(def: { char?: string } | undefined, name: string): string {
  return def?.char ? `-${def.char}/--${name}` : `--${name}`;
}

/**
 * Normalise anything thrown into a RocketError: oclif parse errors are usage errors (2). `flags`
 * (the command's definitions) lets a missing required flag be named with its short letter.
 */
export function toRocketError(err: unknown, flags?: Record<string, { char?: string }>): RocketError {
  if (err instanceof RocketError) {
    // A flag's parse function threw it: oclif wraps the message in "Parsing --flag \n\t...\nSee more help".
    if (/^Parsing --\S+ *\n/.test(err.message)) {
      err.message = err.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim())
        .filter((l) => l && !/^See more help/i.test(l))
        .join(' ');
    }
    return err;
  }
  if (err instanceof Errors.CLIError) {
    const exit = (err as Errors.CLIError).oclif?.exit;
    if (exit === 0) return new RocketError('', { code: 'E_EXIT', exitCode: ExitCode.OK });
    // Parse/validation errors: first line only, as a usage error.
    // Keep the reason oclif gives on later lines ("Parsing --pid" + "Expected an integer ..."),
    // dropping its "See more help" hint, so the one line says what was wrong.
    const msg = stripAnsi(err.message)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^See more help/i.test(l) && !/^The following errors? occurred:?$/i.test(l))
      .join(': ')
      .replace(/\s+/g, ' ')
      .replace(/Missing required flag (\S+)/g, (_m, name: string) => `missing required flag ${flagLabel(flags?.[name], name)}`);
    return new UsageError(msg, ['see --help for the flags this command takes']);
  }
  // A reply body that did not decode: the peer's fault, not ours (the peer's address is added
  // where it is known, e.g. by the admin fan-outs and the name server lookups).
  if (err instanceof BodyFormatError) return notRocketmqReply(err.message, undefined, err);
  const message = err instanceof Error ? err.message : String(err);
  return new RocketError(`internal error: ${message} (this is a bug; rerun with ROCKETCTL_DEBUG=1 and report it)`, {
    code: 'E_BUG',
    exitCode: ExitCode.BUG,
    cause: err,
  });
}

export function formatErrorLine(err: RocketError): string {
  let out = `${colors.fail('Error:')} ${err.message}\n`;
  for (const a of err.actions) out += `${colors.dim('  try:')} ${a}\n`;
  if (process.env.ROCKETCTL_DEBUG && err.cause instanceof Error && err.cause.stack) out += err.cause.stack + '\n';
  else if (process.env.ROCKETCTL_DEBUG && err.stack) out += err.stack + '\n';
  return out;
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}
