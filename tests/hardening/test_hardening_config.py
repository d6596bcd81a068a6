"""Server configuration for a shared demo: protections on, no tracebacks, no static folder, and
the README says how to keep the app private."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def config() -> dict:
    with open(ROOT / ".streamlit" / "config.toml", "rb") as f:
        return tomllib.load(f)


def test_config_keeps_the_protections():
    c = config()
    assert c["server"]["enableXsrfProtection"] is True
    assert c["server"]["enableCORS"] is True
    assert c["server"]["enableStaticServing"] is False
    assert c["client"]["showErrorDetails"] in ("type", "none")  # never "full"/"stacktrace"
    assert c["browser"]["gatherUsageStats"] is False
    assert 0 < c["server"]["maxUploadSize"] <= 1024  # MB, each upload sits in server RAM
    assert c["server"].get("runOnSave", False) is False


def test_no_full_collection_after_every_rerun():
    """A forced gc.collect(2) per 0.5 s poll held the GIL long enough to slow training 2.5x."""
    assert config()["runner"]["postScriptGC"] is False


def test_no_source_watcher_on_the_served_app():
    """With a watcher, every new session scanned every loaded module on the server's event loop:
    all sessions froze at once (benchmarks/bench_sessions.py: 6.0 s of event-loop CPU for six
    sessions, 2.8 s without)."""
    assert config()["server"]["fileWatcherType"] == "none"


def test_every_option_is_one_streamlit_knows():
    """A misspelt option is silently ignored by Streamlit: the protection would be off."""
    from streamlit.config import _config_options_template as known
    names = [f"{section}.{key}" for section, opts in config().items() for key in opts]
    assert names and not [n for n in names if n not in known], names


def test_streamlit_pin_and_readme_deployment_advice():
    reqs = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^streamlit==1\.67\.0$", reqs, re.M)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying for a team", 1)[1].split("\n## ", 1)[0]
    assert "--server.address 127.0.0.1" in section
    assert "reverse proxy" in section and "authenticat" in section
    assert "MFX_DATA_DIR" in section and "MFX_MAX_JOBS" in section
