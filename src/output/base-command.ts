import { Command, Errors, Flags } from '@oclif/core';
import { ExitCode, RocketError, UsageError, type ExitCodeValue } from '../errors/index.js';
import { errorEnvelope, successEnvelope } from './envelope.js';
import { colors } from './colors.js';

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

  private exitStatus: ExitCodeValue = ExitCode.OK;
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

  protected override async catch(err: Error & { exitCode?: number }): Promise<void> {
    const rocket = toRocketError(err);
    process.exitCode = rocket.exitCode;
    if (this.jsonEnabled()) {
      this.logJson(errorEnvelope(rocket));
    } else {
      process.stderr.write(formatErrorLine(rocket));
    }
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    if (!err) {
      if (!this.jsonEnabled()) {
        for (const w of this.warnings) process.stderr.write(colors.warn(`warning: ${w}`) + '\n');
      }
      if (this.exitStatus !== ExitCode.OK) process.exitCode = this.exitStatus;
    }
    await super.finally(err);
  }
}

/** Normalise anything thrown into a RocketError: oclif parse errors are usage errors (2). */
export function toRocketError(err: unknown): RocketError {
  if (err instanceof RocketError) return err;
  if (err instanceof Errors.CLIError) {
    const exit = (err as Errors.CLIError).oclif?.exit;
    if (exit === 0) return new RocketError('', { code: 'E_EXIT', exitCode: ExitCode.OK });
    // Parse/validation errors: first line only, as a usage error.
    // Keep the reason oclif gives on later lines ("Parsing --pid" + "Expected an integer ..."),
    // dropping its "See more help" hint, so the one line says what was wrong.
    const msg = stripAnsi(err.message)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^See more help/i.test(l))
      .join(': ')
      .replace(/\s+/g, ' ');
    return new UsageError(msg, ['see --help for the flags this command takes']);
  }
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
