"""The image the chart runs: a multi-stage Dockerfile (parsed with BuildKit's own parser, the
PyPI package `dockerfile`) with the weft binary, avro/ and topics/ on distroless, non-root. No
container engine runs here (docker client only, no daemon), so the image itself is not built."""

from __future__ import annotations

import re
import shutil
import subprocess

import dockerfile
import pytest

from conftest import ROOT, render, pod_spec, kinds


@pytest.fixture(scope="module")
def instructions():
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def stages(instructions):
    out = []
    for i in instructions:
        if i.cmd == "FROM":
            out.append([i])
        elif out:
            out[-1].append(i)
    return out


def test_multi_stage_build_then_distroless_nonroot(instructions):
    build, final = stages(instructions)
    assert build[0].value[0].startswith("rust:") and build[0].value[-1] == "build"
    assert any(i.cmd == "RUN" and "cargo build --release --locked --bin weft" in i.value[0] for i in build)
    assert final[0].value[0] == "gcr.io/distroless/cc-debian12:nonroot"
    cmds = {i.cmd: i for i in final}
    assert cmds["USER"].value[0] == "65532:65532"
    assert cmds["ENTRYPOINT"].value == ("/usr/local/bin/weft",)
    assert "RUN" not in cmds, "the runtime stage has no shell to run anything"
    copies = [i.value for i in final if i.cmd == "COPY"]
    assert ("/out/weft", "/usr/local/bin/weft") in copies
    assert ("/src/avro", "/usr/share/weft/avro") in copies and ("/src/topics", "/usr/share/weft/topics") in copies
    env = dict(zip(cmds["ENV"].value[::2], cmds["ENV"].value[1::2]))
    assert env["WEFT_AVRO_DIR"] == "/usr/share/weft/avro" and env["WEFT_TOPICS_DIR"] == "/usr/share/weft/topics"


def test_the_chart_runs_the_image_as_its_user():
    docs = render()
    for d in kinds(docs, "StatefulSet") + kinds(docs, "Deployment"):
        sc = pod_spec(d)["securityContext"]
        assert (sc["runAsUser"], sc["runAsGroup"]) == (65532, 65532)
        ports = {p["containerPort"] for c in pod_spec(d)["containers"] for p in c["ports"]}
        assert ports <= {9464, 8081}


def test_dockerignore_keeps_what_the_build_needs():
    ignored = [l.strip().rstrip("/") for l in (ROOT / ".dockerignore").read_text().splitlines()
               if l.strip() and not l.startswith("#")]
    assert "target" in ignored and ".git" in ignored
    for needed in ("src", "crates", "processors", "avro", "topics", "Cargo.toml", "Cargo.lock"):
        assert needed not in ignored, needed


def test_the_runtime_image_provides_every_shared_library_of_the_binary(instructions):
    """The build stage refuses a binary needing a library the distroless base lacks: apply its
    allow-list to the local weft binary's ldd output."""
    binaries = [p for p in (ROOT / "target/release/weft", ROOT / "target/debug/weft") if p.is_file()]
    if not binaries or not shutil.which("ldd"):
        pytest.skip("no local weft binary to run ldd on")
    run = next(i.value[0] for i in instructions if i.cmd == "RUN" and "ldd /out/weft" in i.value[0])
    allowed = re.search(r"grep -Ev '([^']+)'", run).group(1)
    libs = [l.split()[0] for l in subprocess.run(["ldd", str(binaries[0])], capture_output=True, text=True).stdout.splitlines() if l.strip()]
    unexpected = [l for l in libs if not re.fullmatch(allowed, l)]
    assert not unexpected, f"the image would lack {unexpected}"
    assert "libz.so.1" in libs, "libz is what the Dockerfile copies; update it if the binary stops needing it"
