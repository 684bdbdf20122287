/**
 * vitest global setup for the Apache conformance tier (test/apache/*.apache.test.ts): resolve Apache
 * RocketMQ through Maven and compile the Java drivers once, before any test file runs.
 * Without java/javac/mvn the tier says so in one line and its files skip; on CI (CI=true) a missing
 * tool or a failed set-up fails the run, so the tier can never silently not run there.
 */
import type { TestProject } from 'vitest/node';
// @ts-expect-error plain ESM module without types (test/apache/kit.mjs doubles as a CLI)
import { missingTools, setup } from './kit.mjs';

export default function globalSetup(project: TestProject): void {
  const missing = (missingTools as () => string | null)();
  if (missing) {
    if (process.env.CI) throw new Error(`${missing} (CI=true: this tier must run on CI)`);
    console.log(missing);
    project.provide('apacheKit', missing);
    return;
  }
  (setup as (o: { log: (m: string) => void }) => void)({ log: (m) => console.log(m) });
  project.provide('apacheKit', 'ok');
}

declare module 'vitest' {
  export interface ProvidedContext {
    apacheKit: string;
  }
}
