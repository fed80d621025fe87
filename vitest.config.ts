// Unit and property tests run in the "unit" project; end-to-end tests (*.e2e.test.ts) run in the "e2e" project,
// whose global setup starts one local control plane that they share. Tests that must restart an apiserver start
// their own.
import { defineConfig } from "vitest/config"

// No time limits that flake on a loaded machine: a hung test is still caught, by minutes.
const patience = { testTimeout: 600_000, hookTimeout: 600_000, teardownTimeout: 60_000 }

export default defineConfig({
  test: {
    pool: "forks",
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts", "property-tests/**/*.test.ts"],
          exclude: ["**/*.e2e.test.ts", "**/node_modules/**"],
          ...patience
        }
      },
      {
        test: {
          name: "e2e",
          include: ["packages/*/test/**/*.e2e.test.ts"],
          globalSetup: ["packages/testkit/src/global-setup.ts"],
          // The shared control plane is the bottleneck on two cores: run e2e files one at a time.
          fileParallelism: false,
          ...patience
        }
      }
    ]
  }
})
