# One-word dev loop: `make` (= lint, types, tests). `make demo` runs the main job.
export UV_PYTHON_DOWNLOADS := never
UV := uv run --frozen

.PHONY: all setup test lint fmt types pytest demo bench
all: test

setup:
	bash scripts/setup.sh --with-browser

test: setup lint types pytest

lint:
	$(UV) ruff check src tests bench
	$(UV) ruff format --check src tests bench

fmt:
	$(UV) ruff format src tests bench
	$(UV) ruff check --fix src tests bench

types:
	$(UV) mypy

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop
# running in the worker's main thread, which breaks later tests that call asyncio.run().
pytest:
	$(UV) pytest -n 2 --dist loadfile -m "not browser"
	$(UV) pytest -n 2 --dist loadfile -m browser

demo:
	bash scripts/setup.sh
	$(UV) retenta demo

bench:
	$(UV) python -m bench.run_all
