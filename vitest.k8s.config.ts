import { defineConfig } from 'vitest/config';

// `npm run test:k8s`: the end-to-end tests on the Kubernetes lab
// (scripts/k8s-lab/). Kept out of `npm test`: a cold build of the lab takes
// about an hour on this kind of machine.
export default defineConfig({
  test: {
    include: ['test/e2e/k8s-*.e2e.ts'],
    testTimeout: 600_000,
    hookTimeout: 3_600_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
