import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real brokers and child processes; keep per-test bounds explicit and generous
    // enough for a loaded 2-core CI machine. No test asserts on wall time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at once (vitest's default on 2 cores is one): most of the Apache tier waits on JVMs
    // and brokers, so two overlap well and keep .ci/run under 20 minutes.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The Apache conformance tier (test/apache): Maven resolution and javac once per run.
    globalSetup: ['./test/apache/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
