# One image for both programs of the add-on: `controller` (the tcr-assistant-controller-manager Deployment) and
# `hosts-updater` (the DaemonSet) are its arguments. Node runs the TypeScript sources directly (type stripping), so
# there is no build step: the image holds the sources and the production dependencies only.

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
# The sources last, so that editing them does not invalidate the dependency layer.
COPY packages/ packages/

# --- runtime --------------------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Workspace packages are symlinked from node_modules into packages/: copy both as they were installed.
COPY --from=dependencies /app /app
# The base image's `node` user; numeric, so that runAsNonRoot can be verified.
USER 1000:1000
ENTRYPOINT ["node", "packages/cli/src/main.ts"]
CMD ["--help"]
