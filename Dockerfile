# Pulseboard: one image, every role. `docker run IMAGE` runs `pulseboard start`
# (all roles, embedded Redis); docker-compose.yml runs each role on its own
# against separate control-plane and cache Redis services.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY probes ./probes
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# redis-server lets `start` embed Redis when no REDIS_URL is given; tini reaps
# children and forwards signals so SIGTERM stops the whole tree.
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PULSEBOARD_HOME=/data \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json pulseboard.yaml ./
COPY examples ./examples
COPY bin ./bin
COPY views ./views
COPY public ./public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "dist/src/main.js"]
CMD ["start"]
