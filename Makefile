# Two commands for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean qgis-plugin

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU wheel first, so that no dependency pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/microflow estimate examples/pre.tif examples/post.tif -o out/demo.tif --plot out/demo.png --overwrite
	$(BIN)/microflow info out/demo.tif

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/microflow bench --out docs

qgis-plugin:  # dist/microflow_qgis-VERSION.zip, for QGIS's "Install from ZIP"
	$(PYTHON) scripts/qgis_plugin_zip.py

clean:
	rm -rf $(VENV) out .pytest_cache
