# The operator's image: a static binary on an empty base, with CA certificates, running as non-root.
#   make docker-build   (needs a Docker engine; CI here has none, the build is checked by `make build`)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY aws/ aws/
COPY health/ health/
ARG TARGETOS=linux TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags='-s -w' -o /out/istio-alb-operator ./cmd/istio-alb-operator

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/istio-alb-operator /istio-alb-operator
USER 65532:65532
ENTRYPOINT ["/istio-alb-operator"]
