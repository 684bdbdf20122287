import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real brokers and child processes; keep per-test bounds explicit and generous
    // enough for a loaded 2-core CI machine. No test asserts on wall time.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The Apache conformance tier (test/apache): Maven resolution and javac once per run.
    globalSetup: ['./test/apache/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
