# tokenpipe: one image for every service. The entry point takes the service to run:
#
#   docker build -t tokenpipe:local .
#   docker run --rm -p 8080:8080 tokenpipe:local                 # the whole stack in one container
#   docker run --rm tokenpipe:local ingest-api                   # one service (see docker-compose.yml)
#
# Works with the classic builder and with BuildKit (no BuildKit-only syntax).

# --- 1. The build's poms alone --------------------------------------------------------------------
# Copies the whole context, then keeps only the pom.xml files. The next stage copies this result,
# and COPY is cached by content: the dependency download below re-runs only when a pom changes,
# not on every source edit. (Listing the poms by hand would break when a module is added.)
FROM maven:3.9-eclipse-temurin-21 AS poms
WORKDIR /src
COPY . .
RUN find . -type f ! -name pom.xml -delete && find . -type d -empty -delete

# --- 2. Build the shaded jar -------------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /build
# Download dependencies and plugins by packaging the modules with no sources (empty jars), then
# discard that output. (`mvn dependency:go-offline` cannot resolve the reactor's own modules.)
COPY --from=poms /src/ ./
RUN mvn -B -q -DskipTests -pl standalone -am package \
    && find . -type d -name target -prune -exec rm -rf {} +
COPY . .
RUN mvn -B -q -DskipTests -pl standalone -am package \
    && cp standalone/target/tokenpipe-standalone.jar /build/tokenpipe.jar

# --- 3. Runtime ---------------------------------------------------------------------------------------
FROM eclipse-temurin:21-jre

LABEL org.opencontainers.image.title="tokenpipe" \
      org.opencontainers.image.description="Kafka-backed pipeline streaming LLM output over SSE"

# An unprivileged user. Its home, /var/lib/tokenpipe, is the working directory and holds whatever a
# service writes: the standalone stack's ./data (TOKENPIPE_DATA_DIR) and, when STATE_DIR points
# there, the session index's state. A named volume mounted below it starts out owned by this user.
RUN groupadd --system --gid 10001 tokenpipe \
    && useradd --system --uid 10001 --gid tokenpipe --home-dir /var/lib/tokenpipe \
       --no-create-home --shell /usr/sbin/nologin tokenpipe \
    && mkdir -p /var/lib/tokenpipe/data /var/lib/tokenpipe/state \
    && chown -R tokenpipe:tokenpipe /var/lib/tokenpipe

COPY --from=build /build/tokenpipe.jar /app/tokenpipe.jar
COPY docker/entrypoint.sh docker/healthcheck.sh /app/
RUN chmod 0755 /app/entrypoint.sh /app/healthcheck.sh

USER 10001:10001
WORKDIR /var/lib/tokenpipe

# 8080 standalone, 8081 ingest-api, 8082 delivery-sse, 8083 inference worker (health only).
EXPOSE 8080 8081 8082 8083

# No HEALTHCHECK here: the port depends on the service. docker-compose.yml runs
# `/app/healthcheck.sh <port>` for each service.
ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["standalone"]
