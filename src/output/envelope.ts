import { ExitCode, RocketError, type ExitCodeValue } from '../errors/index.js';

/**
 * The one JSON envelope every command prints with --json (stable fields; see schemas/).
 * Success: {status, result, warnings}. Failure: {status, name, code, message, actions, exitCode}.
 * `status` is the process exit code, so scripts can read either.
 */
interface SuccessEnvelope<T> {
  status: number;
  result: T;
  warnings: string[];
}

interface ErrorEnvelope {
  status: number;
  name: string;
  code: string;
  message: string;
  actions: string[];
  exitCode: number;
  data?: Record<string, unknown>;
}

export function successEnvelope<T>(result: T, warnings: string[] = [], status: ExitCodeValue = ExitCode.OK): SuccessEnvelope<T> {
  return { status, result, warnings };
}

export function errorEnvelope(err: RocketError): ErrorEnvelope {
  const env: ErrorEnvelope = {
    status: err.exitCode,
    name: err.name,
    code: err.code,
    message: err.message,
    actions: err.actions,
    exitCode: err.exitCode,
  };
  if (err.data) env.data = err.data;
  return env;
}
