"""Running here (pipeline/local_runner.py)."""


def test_tfx_builds_no_sdist_of_itself_for_the_direct_runner(monkeypatch):
    from tfx.utils import dependency_utils

    from pipeline import local_runner

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: built.append(1) or "/tmp/tfx.tar.gz")
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        dependency_utils.make_beam_dependency_flags)
    local_runner.skip_tfx_sdist_for_local_beam()
    local = ["--runner=DirectRunner", "--direct_num_workers=2"]
    assert dependency_utils.make_beam_dependency_flags(local) == local and not built
    remote = ["--runner=DataflowRunner", "--project=p"]
    assert dependency_utils.make_beam_dependency_flags(remote)[-1] == "--extra_package=/tmp/tfx.tar.gz"
    assert built == [1]
    for prepared in (["--runner=PortableRunner", "--job_endpoint=embed",
                      "--environment_type=EXTERNAL", "--environment_config=localhost:5000"],
                     ["--runner=FlinkRunner"],  # an in-process Flink master: LOOPBACK workers
                     ["--runner=DataflowRunner", "--sdk_container_image=r/lmpipe:1"]):
        assert dependency_utils.make_beam_dependency_flags(prepared) == prepared
    assert built == [1]
