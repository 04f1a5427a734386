# One-command entry points. `make demo` and `make test` install what they need first.
PYTHON ?= python3
TORCH_PIN ?= torch==2.13.0
# The napari GUI tests need a display: run them under Xvfb when it is installed
# (Debian: xvfb and the Qt/OpenGL libraries listed in .ci/run); without one they skip.
XVFB := $(shell command -v xvfb-run >/dev/null 2>&1 && echo "xvfb-run -a")

.PHONY: install install-dev demo test bench docs

install:
	$(PYTHON) -m pip install -q $(TORCH_PIN)
	$(PYTHON) -m pip install -q -e .

install-dev:
	$(PYTHON) -m pip install -q $(TORCH_PIN)
	$(PYTHON) -m pip install -q -e ".[dev,gui]"

demo: install
	temnn demo

test: install-dev
	$(XVFB) $(PYTHON) -m pytest -n 2 --dist loadfile -q -p no:warnings

bench: install-dev
	$(PYTHON) benchmarks/waves.py
	$(PYTHON) benchmarks/images.py
	$(PYTHON) benchmarks/train.py
	$(PYTHON) benchmarks/predict.py
	$(PYTHON) benchmarks/track.py

# The documentation site (docs/_build/html): warnings are errors, the notebooks are executed.
docs:
	$(PYTHON) -m pip install -q $(TORCH_PIN)
	$(PYTHON) -m pip install -q -e ".[docs]"
	OMP_NUM_THREADS=1 $(PYTHON) -m sphinx -W --keep-going -b html docs docs/_build/html
