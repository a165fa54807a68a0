"""Session fixtures: the real kserve-master stack (nginx + FastCGI workers) on free ports.

Env:
  KSERVE_BIN             binary to test (default <repo>/.build/debug/kserve-master)
  KSERVE_NGINX_TEMPLATE  nginx template (default <repo>/nginx/kserve.conf.template, only if it exists)
"""

from __future__ import annotations

import pytest

import e2e_util as u


def pytest_sessionstart(session):
    if session.config.option.collectonly:
        return
    if not u.kserve_bin().exists():
        pytest.exit(f"kserve-master binary not found at {u.kserve_bin()} (build it first, or set KSERVE_BIN)",
                    returncode=2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for s in list(u.ACTIVE_STACKS):
            rep.sections.append((f"kserve-master log ({s.name}, {s.log_path})", s.log_tail(120)))


def _finish(stack: u.Stack) -> None:
    res = stack.stop(timeout=10)
    problems = res.problems()
    if problems:
        pytest.fail(f"{stack.name}: unclean stop: " + "; ".join(problems) + "\n" + stack.log_tail(80),
                    pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The default stack: 2 workers, the five sample models of the brief."""
    s = u.Stack(tmp_path_factory.mktemp("stack"), name="main").start_cleanly(30)
    yield s
    _finish(s)


@pytest.fixture(scope="session")
def base_url(stack) -> str:
    return stack.base_url


@pytest.fixture(scope="session")
def api(stack) -> u.Api:
    return u.Api(stack.base_url)


@pytest.fixture(scope="session")
def triton(stack):
    import tritonclient.http as httpclient
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{stack.port}", network_timeout=120.0,
                                         connection_timeout=30.0)
    yield c
    c.close()


@pytest.fixture
def make_stack(tmp_path_factory):
    """Factory for extra stacks with other settings. make_stack(config=..., args=..., env=..., start=True).

    `config` may be a dict (see e2e_util.default_config), a TOML string, or a callable that edits
    the default config dict in place. Stacks still running at the end of the test must stop cleanly.
    """
    started: list[u.Stack] = []

    def factory(config=None, args=(), env=None, start=True, workdir=None, config_name="kserve.toml",
                name=None, timeout=30):
        cfg = config
        if cfg is None or callable(cfg):
            base = u.default_config()
            if callable(cfg):
                cfg(base)
            cfg = base
        s = u.Stack(workdir or tmp_path_factory.mktemp("extra"), cfg, args=args, env=env,
                    config_name=config_name, name=name or f"extra{len(started)}")
        started.append(s)
        if start:
            s.start_cleanly(timeout)
        return s

    yield factory
    errors = []
    for s in started:
        if s.proc is None or s.stopped is not None:
            continue
        res = s.stop(timeout=10)
        if res.problems():
            errors.append(f"{s.name}: " + "; ".join(res.problems()) + "\n" + s.log_tail(60))
    if errors:
        pytest.fail("unclean stop of extra stack(s):\n" + "\n".join(errors), pytrace=False)
