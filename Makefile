# Tern's front door. `make run` starts a node with the examples; `make test` lints, then runs every test.
.PHONY: setup build examples run test bench clean install

setup:
	bash scripts/setup.sh

build:
	bash scripts/build-ts.sh

# Puts `tern` on PATH (npm link: a link in npm's global bin folder to this checkout's bin/tern).
install: build
	npm link --no-audit --no-fund

examples:
	bash scripts/build-examples.sh

run: setup
	bash scripts/run.sh

test: setup
	npm run lint
	npm test

bench: setup
	node dist/bench/run.js $(BENCH_ARGS)

clean:
	rm -rf dist .tern test-artifacts
