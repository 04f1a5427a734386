# One-command entry points. `make demo` and `make test` install what they need first.
PYTHON ?= python3
TORCH_PIN ?= torch==2.13.0

.PHONY: install install-dev demo test bench

install:
	$(PYTHON) -m pip install -q $(TORCH_PIN)
	$(PYTHON) -m pip install -q -e .

install-dev:
	$(PYTHON) -m pip install -q $(TORCH_PIN)
	$(PYTHON) -m pip install -q -e ".[dev]"

demo: install
	temnn demo

test: install-dev
	$(PYTHON) -m pytest -n 2 --dist loadfile -q

bench: install-dev
	$(PYTHON) benchmarks/waves.py
