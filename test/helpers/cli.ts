/**
 * Run the real CLI (`node bin/run.js ...`, built by `npm run build`) and check its --json envelope
 * against the committed schema in schemas/ (so output contracts cannot drift silently).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { expect } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/run.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Parsed stdout when it is JSON (with --json), else undefined. */
  json?: any;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; onSpawn?: (child: ChildProcess) => void } = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      // vitest sets NODE_ENV=test, which makes oclif print development-only warnings.
      env: { ...withoutNodeEnv(process.env), NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rocketctl ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** schemas/<command id with ':' or ' ' as '-'>.json */
export function schemaPath(commandId: string): string {
  return path.join(ROOT, 'schemas', `${commandId.replace(/[: ]/g, '-')}.json`);
}

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();

function validator(file: string) {
  let v = compiled.get(file);
  if (!v) {
    v = ajv.compile(JSON.parse(fs.readFileSync(file, 'utf8')));
    compiled.set(file, v);
  }
  return v;
}

/** Assert a success envelope matches the command's committed schema. */
export function expectSuccessEnvelope(commandId: string, env: unknown): void {
  const v = validator(schemaPath(commandId));
  const ok = v(env);
  expect(ok, `${commandId} --json does not match ${path.relative(ROOT, schemaPath(commandId))}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(env, null, 2).slice(0, 2000)}`).toBe(true);
}

/** Assert an error envelope matches schemas/envelope-error.json and carries the given exit code. */
export function expectErrorEnvelope(env: unknown, exitCode: number): void {
  const v = validator(path.join(ROOT, 'schemas', 'envelope-error.json'));
  const ok = v(env);
  expect(ok, `error envelope invalid: ${ajv.errorsText(v.errors)}\n${JSON.stringify(env)}`).toBe(true);
  expect((env as { exitCode: number }).exitCode).toBe(exitCode);
}

/** One line of error text on stderr (plus optional "try:" hints), no stack trace. */
export function expectOneLineError(stderr: string): void {
  const lines = stderr.trim().split('\n').filter((l) => !l.trimStart().startsWith('try:') && !l.startsWith('warning:'));
  expect(lines, `expected one error line, got:\n${stderr}`).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
}

function withoutNodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_ENV: _drop, ...rest } = env;
  return rest;
}
