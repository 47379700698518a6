# Two commands matter: `make run` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./data
TEST_DATA_DIR ?= ./data/test
# Debian packages the tests read real media from (vtest.avi, messi5.jpg, grace_hopper_512x512.jpg)
# and the GStreamer RTSP server the stream tests serve vtest.avi with on loopback.
APT_PACKAGES := opencv-doc facedetect \
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-tools gstreamer1.0-plugins-base \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
  gir1.2-gstreamer-1.0 python3-gi

.PHONY: run serve test bench lint models install system-deps clean spec

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

models: install
	$(BIN)/python -m engines.provision --faces --size 416x416 --size 1024x768 --data-dir $(DATA_DIR)

run: install models
	$(BIN)/argus run --data-dir $(DATA_DIR)

serve: install
	$(BIN)/argus serve --data-dir $(DATA_DIR)

# apt-get only when root and something is missing; a laptop without root skips media tests' setup.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (install them as root for the media tests)"; fi; \
	fi

test: install system-deps
	$(BIN)/python -m engines.provision --faces --size 416x416 --size 1024x768 --data-dir $(TEST_DATA_DIR)
	ARGUS_TEST_DATA_DIR=$(TEST_DATA_DIR) $(BIN)/python -m pytest -q

# The benchmarks also compare decoding against the ffmpeg command-line tool when it installs.
bench: install models
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(APT_PACKAGES) ffmpeg"
	$(BIN)/python -m bench --data-dir $(DATA_DIR)

lint: install
	$(BIN)/ruff check .

# Regenerate the OpenAPI document Argus serves after changing routes or README.md.
spec: install
	$(BIN)/python -m api.spec.openapi_gen

clean:
	rm -rf $(VENV) *.egg-info build
