# AutoTLS container image.
# Build stage: full install (Prisma CLI and TypeScript generate and compile).
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY src ./src
RUN npm ci

# Runtime stage: production dependencies only, plus the compiled service.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production APP_ENV=production PORT=8000
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ curl \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall generate/build already ran in the build stage;
# better-sqlite3 is then rebuilt explicitly for this image.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3 && npm cache clean --force \
    && apt-get purge -y python3 make g++ && apt-get autoremove -y
COPY --from=build /app/dist ./dist
COPY prisma ./prisma
COPY bin ./bin
COPY docs/openapi.json ./docs/openapi.json
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
EXPOSE 8000
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/healthcheck || exit 1
CMD ["node", "dist/main.js"]
