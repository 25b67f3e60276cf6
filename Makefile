# The two commands of the README: `make demo` and `make test`. Each makes its own virtual
# environment (.venv) and installs what it needs; a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench-import bench-classify bench-benefits bench-collateral bench-web bench-portfolio evaluate-labels clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ .stamp-run

demo: .stamp-run
	$(BIN)/greenfin demo $(DEMO_ARGS)

lint: .stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench-import: .stamp-dev
	$(BIN)/python bench/import_loans.py $(BENCH_ARGS)

bench-classify: .stamp-run
	$(BIN)/python bench/classify.py $(BENCH_ARGS)

bench-benefits: .stamp-dev
	$(BIN)/python bench/benefits.py $(BENCH_ARGS)

bench-collateral: .stamp-run
	$(BIN)/python bench/collateral.py $(BENCH_ARGS)

bench-web: .stamp-dev
	$(BIN)/python bench/web.py $(BENCH_ARGS)

bench-portfolio: .stamp-dev
	$(BIN)/python bench/portfolio.py $(BENCH_ARGS)

evaluate-labels: .stamp-run
	$(BIN)/greenfin label evaluate tests/data/classification_eval.csv tests/data/classification_eval_b.csv --split test

clean:
	rm -rf $(VENV) .stamp-* greenfin-demo .pytest_cache .mypy_cache .ruff_cache
