# One image for both programs of the add-on: `controller` (the tcr-assistant-controller-manager Deployment) and
# `hosts-updater` (the DaemonSet) are its arguments. The image runs JavaScript compiled from the TypeScript sources
# (`npm run build`): Node's type stripping alone costs about 17 MB of resident memory per process, which
# hosts-updater's 100Mi per node cannot spare. The `compiled` export condition makes the workspace packages resolve
# to their dist/ instead of their src/, which the image does not hold.

# --- dependencies: npm ci needs every workspace's package.json, and nothing else, to install ---------------------------
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/api/package.json packages/api/
COPY packages/kube/package.json packages/kube/
COPY packages/tcr/package.json packages/tcr/
COPY packages/controller/package.json packages/controller/
COPY packages/hosts-updater/package.json packages/hosts-updater/
COPY packages/cli/package.json packages/cli/
COPY packages/testkit/package.json packages/testkit/
# Production dependencies only. Node itself is a dev dependency of the repository (the `node` package): the image
# uses the base image's runtime instead. No install scripts run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- build: every dependency (TypeScript), the sources, and the compiled dist/ of each runtime package ---------------
FROM dependencies AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY packages/ packages/
RUN npm run build

# --- runtime --------------------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Workspace packages are symlinked from node_modules into packages/: copy both as they were installed.
COPY --from=dependencies /app /app
COPY --from=build /app/packages/api/dist packages/api/dist
COPY --from=build /app/packages/kube/dist packages/kube/dist
COPY --from=build /app/packages/tcr/dist packages/tcr/dist
COPY --from=build /app/packages/controller/dist packages/controller/dist
COPY --from=build /app/packages/hosts-updater/dist packages/hosts-updater/dist
COPY --from=build /app/packages/cli/dist packages/cli/dist
# The base image's `node` user; numeric, so that runAsNonRoot can be verified.
USER 1000:1000
ENTRYPOINT ["node", "--conditions=compiled", "packages/cli/dist/main.js"]
CMD ["--help"]
