# One-command entry points. Each installs what it needs into the project's own virtual
# environment, $(VENV) (default .venv inside the clone), and runs inside it: packages left in
# the system Python can neither help nor hide a missing dependency.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
# The napari GUI tests need a display: run them under Xvfb when it is installed
# (Debian: xvfb and the Qt/OpenGL libraries listed in .ci/run); without one they skip.
XVFB := $(shell command -v xvfb-run >/dev/null 2>&1 && echo "xvfb-run -a")

.PHONY: install install-dev demo test bench docs

$(VPY):
	$(PYTHON) -m venv $(VENV)

install: $(VPY)
	$(VPY) -m pip install -q $(TORCH_PIN)
	$(VPY) -m pip install -q -e .

install-dev: $(VPY)
	$(VPY) -m pip install -q $(TORCH_PIN)
	$(VPY) -m pip install -q -e ".[dev,gui,hyperspy]"
	$(VPY) -m pip freeze > $(VENV)/pip-freeze.txt

demo: install
	$(VENV)/bin/temnn demo

test: install-dev
	$(XVFB) $(VPY) -m pytest -n 2 --dist loadfile -q

bench: install-dev
	$(VPY) benchmarks/waves.py
	$(VPY) benchmarks/images.py
	$(VPY) benchmarks/train.py
	$(VPY) benchmarks/predict.py
	$(VPY) benchmarks/track.py

# The documentation site (docs/_build/html): warnings are errors, the notebooks are executed.
docs: $(VPY)
	$(VPY) -m pip install -q $(TORCH_PIN)
	$(VPY) -m pip install -q -e ".[docs]"
	OMP_NUM_THREADS=1 $(VPY) -m sphinx -W --keep-going -b html docs docs/_build/html
