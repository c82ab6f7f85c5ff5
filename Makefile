# monsys hub. The two commands a newcomer needs:
#   make local   start the local hub (dynalite, local KMS, MinIO, mutual-TLS gateway)
#   make test    run every test
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
GOFLAGS   ?=
FUNCTIONS := $(notdir $(wildcard functions/*))
BIN       := bin
# Lambda builds: provided.al2023 on arm64, static, stripped.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags='-s -w'

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: deps
deps: node_modules/.package-lock.json ## install the local emulators and peers (dynalite from npm; MinIO, the Lambda RIE and litewitness from the module proxy) and lintian
	@bash scripts/ensure-minio.sh >/dev/null
	@bash scripts/ensure-rie.sh >/dev/null
	@bash scripts/ensure-litewitness.sh >/dev/null
	@bash scripts/ensure-python.sh
	@bash scripts/ensure-lintian.sh

.PHONY: local
local: node_modules/.package-lock.json ## start the local hub in the foreground (MONSYS_LOCAL_ADDR, MONSYS_LOCAL_DIR)
	$(GO) run ./cmd/monsys-local

.PHONY: test
test: deps lint ## run every test (race detector on)
	$(GO) test $(GOFLAGS) -race -count=1 -timeout 25m ./...

.PHONY: demo
demo: deps ## the whole story on the local hub, in one command (cmd/monsys-demo)
	$(GO) run ./cmd/monsys-demo

.PHONY: cfn-lint
cfn-lint: ## lint template.yaml with cfn-lint, when installed (make test runs it too, in internal/samtemplate)
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml && echo "cfn-lint: template.yaml ok"; \
	  else echo "cfn-lint is not installed: skipped (it comes from PyPI, which this project does not use)"; fi

.PHONY: lint
lint: ## gofmt, go vet, and a cross-compile of the agent for Windows
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if [ -d agent ]; then GOOS=windows $(GO) vet ./agent/...; fi

.PHONY: build
build: $(addprefix $(BIN)/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## build every Lambda bootstrap (linux/arm64)

$(BIN)/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*
	@ls -l $@ | awk '{printf "  %s  %.1f MB\n", $$9, $$5/1048576}'

.PHONY: bench
bench: node_modules/.package-lock.json ## benchmarks, reported as ratios measured in one run, and the request units of an ingest
	bash scripts/bench-ratio.sh
	@# -v: go test shows a passing package's output only in verbose mode
	@$(GO) test -count=1 -v -run '^TestIngestRequestUnits$$' ./internal/aws/dynamo/ | grep '^ingest units'
	@echo "cold start of the deployed ingest bootstrap (built by deploy/Makefile, -tags lambda.norpc), mean of 10:"
	@$(GO) test -run '^$$' -bench '^BenchmarkColdStart$$' -benchtime 10x ./functions/ingest/ | grep '^BenchmarkColdStart'
	@echo "pack builder / floor (SHA-256 + gzip) at 200,000 records, best and median of 5 (scripts/bench-pack.sh: the full measurement):"
	@MONSYS_BENCH_RECORDS=200000 $(GO) test -run '^$$' -bench '^BenchmarkBuildVsFloor$$' -benchtime 5x ./internal/pack/ | \
	  awk '/^Benchmark/ { for (i = 2; i < NF; i++) v[$$(i + 1)] = $$i; \
	    printf "  level 1 (the builder'"'"'s): best %.2f, median %.2f; level 6: best %.2f, median %.2f\n", \
	    v["best-ratio-level1"], v["median-ratio-level1"], v["best-ratio-level6"], v["median-ratio-level6"] }'


.PHONY: bench-pack
bench-pack: ## the evidence-pack builder and both verifiers (--deep too) as ratios to a floor in one run; ONLY=deep for provenance alone (docs/evidence-pack.md, "Speed")
	bash scripts/bench-pack.sh

.PHONY: fuzz
fuzz: ## run every fuzz target of the repository, one after the other, for FUZZTIME each (default 30s)
	@find . -name '*_test.go' -not -path './node_modules/*' -not -path './.*' | sort | while read -r f; do \
	  sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f" | while read -r fn; do echo "$$(dirname "$$f") $$fn"; done; \
	done | while read -r pkg fn; do \
	  echo "== $$fn ($$pkg)"; \
	  $(GO) test "$$pkg" -run '^$$' -fuzz "^$$fn$$" -fuzztime $${FUZZTIME:-30s} </dev/null; \
	done

.PHONY: clean
clean: ## remove build output and the local hub's state
	rm -rf $(BIN) .local

FORCE:
