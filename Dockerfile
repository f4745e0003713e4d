# The operator's image: a static binary on an empty base, with CA certificates, running as non-root.
#   make image   (needs a Docker engine; CI here has none, the build is checked by `make build`)
# or: docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t <image>:<tag> .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY aws/ aws/
COPY health/ health/
ARG TARGETOS=linux TARGETARCH=amd64
# The version --version and istio_alb_build_info report (.git is not in the build context).
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/istio-alb-operator ./cmd/istio-alb-operator

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="istio-alb-operator" org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/istio-alb-operator /istio-alb-operator
USER 65532:65532
ENTRYPOINT ["/istio-alb-operator"]
