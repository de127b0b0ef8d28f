import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files run two at a time, each starting its own servers on its own ports.
    maxWorkers: 2,
    projects: [
      // Pure code and files in temp dirs: no build, root, QEMU or Redis (`npm run test:unit`).
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          // Browser tests (test/e2e) too: they drive Chromium against the same built server.
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // Real servers, QEMU, Redis and Chromium: build the server once for all of them.
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
})
