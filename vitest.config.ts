import { defineConfig } from 'vitest/config';

// Integration tests run real processes with real timing on a 2-core machine:
// one file at a time keeps them from starving each other.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/helpers/run-dir-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
