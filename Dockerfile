# Tidepool in a container (optional: nothing else in the repository needs it).
#   docker build -t tidepool .
#   docker run -p 8000:8000 -v tidepool-data:/data tidepool
# The binary is built with the `dist` profile (whole-program optimisation).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip2 \
 && cargo build --locked --profile dist --bin tidepool

FROM debian:bookworm-slim
COPY --from=build /src/target/dist/tidepool /usr/local/bin/tidepool
ENV TIDEPOOL_DATA_DIR=/data TIDEPOOL_HOST=0.0.0.0
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["tidepool"]
CMD ["serve"]
