"""The helm test pod's registry check, run for real: its shell script (from the rendered Pod)
against `weft registry serve --store memory`, once with every schema registered by
`weft schemas register` (passes, counts every subject), once empty (fails, names what is missing),
once with a users file as registry.auth.usersSecret mounts it (passes with a read user's
credentials, fails without; /metrics, the probes' path, answers without).
Both the curl and the wget branch run when the machine has them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, by_name, env_of, render


def weft_binary() -> Path | None:
    if os.environ.get("WEFT_BIN"):
        return Path(os.environ["WEFT_BIN"])
    found = [p for p in (ROOT / "target/release/weft", ROOT / "target/debug/weft") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = weft_binary()
    if binary is None:
        pytest.skip("no weft binary to run a registry")
    copy = tmp_path_factory.mktemp("bin") / "weft"
    shutil.copy2(binary, copy)
    started = []

    def start(register: bool, users: bool = False) -> str:
        args = [str(copy), "registry", "serve", "--store", "memory", "--listen", "127.0.0.1:0"]
        credentials = []
        if users:
            # `ci` registers (write); the helm test pod sends run_script's key/secret (read).
            def hashed(password: str) -> str:
                return subprocess.run([str(copy), "registry", "hash-password"], input=password + "\n",
                                      capture_output=True, text=True, check=True, timeout=60).stdout.strip()
            users_file = copy.parent / "users.yaml"
            users_file.write_text(
                "users:\n"
                f"  - {{name: ci, role: write, password_hash: '{hashed('ci-secret')}'}}\n"
                f"  - {{name: key, role: read, password_hash: '{hashed('secret')}'}}\n"
            )
            args += ["--users-file", str(users_file)]
            credentials = ["--registry-username", "ci", "--registry-password", "ci-secret"]
        p = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(p)
        url = re.search(r"http://[0-9.:]+", p.stdout.readline()).group(0)
        if register:
            subprocess.run([str(copy), "schemas", "register", "--registry-url", url, *credentials], cwd=ROOT,
                           check=True, capture_output=True, timeout=120)
        return url

    yield start
    for p in started:
        p.terminate()
        p.wait(timeout=30)


def script_and_subjects():
    pod = by_name(render(), "Pod", "weft-test")
    subjects = next(c for c in pod["spec"]["containers"] if c["name"] == "subjects")
    return subjects["args"][0], env_of(subjects)["SUBJECTS"]["value"]


def run_script(url: str, hide: str | None = None, auth: bool = False) -> subprocess.CompletedProcess:
    script, subjects = script_and_subjects()
    env = {"PATH": os.environ["PATH"], "WEFT_REGISTRY_URL": url, "SUBJECTS": subjects}
    if auth:
        env.update(WEFT_REGISTRY_USERNAME="key", WEFT_REGISTRY_PASSWORD="secret")
    if hide:
        # A PATH without the tool: a directory of links to everything else the script uses.
        bindir = Path(os.environ.get("TMPDIR", "/tmp")) / f"helm-test-path-{hide}"
        bindir.mkdir(exist_ok=True)
        for tool in ("sh", "base64", "tr", "wc", "printf", "wget", "curl"):
            found = shutil.which(tool)
            if found and tool != hide and not (bindir / tool).exists():
                (bindir / tool).symlink_to(found)
        env["PATH"] = str(bindir)
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_the_registry_check_passes_with_every_subject(registry, client, topology):
    other = {"curl": "wget", "wget": "curl"}[client]
    if not shutil.which(client):
        pytest.skip(f"no {client} on this machine")
    url = registry(True)
    done = run_script(url, hide=other, auth=True)
    assert done.returncode == 0, done.stdout + done.stderr
    n = len(topology["subjects"])
    assert f"{n} of {n} subjects registered" in done.stdout, done.stdout


def test_the_registry_check_fails_naming_missing_subjects(registry, topology):
    url = registry(False)
    done = run_script(url)
    assert done.returncode != 0
    assert "missing subject: weft.common.EventMetadata" in done.stdout
    assert f"0 of {len(topology['subjects'])} subjects registered" in done.stdout


def test_the_registry_check_fails_when_the_registry_does_not_answer():
    done = run_script("http://127.0.0.1:9")
    assert done.returncode == 1 and "does not answer" in done.stdout


def test_the_registry_check_authenticates_to_a_registry_with_a_users_file(registry, topology):
    url = registry(True, users=True)
    done = run_script(url, auth=True)
    assert done.returncode == 0, done.stdout + done.stderr
    n = len(topology["subjects"])
    assert f"{n} of {n} subjects registered" in done.stdout, done.stdout
    # Without credentials every path but /metrics answers 401: the check fails, the probes do not.
    done = run_script(url)
    assert done.returncode == 1 and "does not answer" in done.stdout, done.stdout
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.status == 200 and "weft_registry_writes_total" in r.read().decode()
    try:
        urllib.request.urlopen(url + "/", timeout=10)
        raise AssertionError("GET / answered without credentials")
    except urllib.error.HTTPError as e:
        assert e.code == 401 and e.headers["WWW-Authenticate"] == 'Basic realm="weft-registry"'
