"""``streamlit run`` with a probe: how many script runs ended, and how many of them ran a forced
``gc.collect`` afterwards (Streamlit's ``runner.postScriptGC``), written as JSON to the file
named by ``$MFX_GC_PROBE`` after every run.

Usage: ``python tests/app/gc_probe_server.py app.py --server.port ...`` (the arguments of
``streamlit run``). Used by tests/app/test_browser_train_gc.py and
benchmarks/bench_dashboard_train.py.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import threading

from streamlit import config
from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
from streamlit.web.cli import main

PATH = os.environ["MFX_GC_PROBE"]
_lock = threading.Lock()
_inside = threading.local()
counts = {"runs": 0, "post_run_collections": 0, "post_script_gc": None}
_collect = gc.collect
_finished = ScriptRunner._on_script_finished


def _write() -> None:
    tmp = f"{PATH}.tmp"
    with open(tmp, "w") as f:
        json.dump(counts, f)
    os.replace(tmp, PATH)


def collect(*args, **kwargs):
    if getattr(_inside, "finishing", False):
        with _lock:
            counts["post_run_collections"] += 1
    return _collect(*args, **kwargs)


def on_script_finished(self, *args, **kwargs):
    _inside.finishing = True
    try:
        return _finished(self, *args, **kwargs)
    finally:
        _inside.finishing = False
        with _lock:
            counts["runs"] += 1
            counts["post_script_gc"] = config.get_option("runner.postScriptGC")
            _write()


gc.collect = collect
ScriptRunner._on_script_finished = on_script_finished

if __name__ == "__main__":
    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    sys.exit(main())
