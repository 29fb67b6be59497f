"""The catalogue filter (plugins/filter/catalogue.py): what runs where, derived from the declaration alone."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import yaml

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("catalogue", ROOT / "plugins" / "filter" / "catalogue.py")
catalogue_module = importlib.util.module_from_spec(spec)
sys.modules["catalogue"] = catalogue_module
spec.loader.exec_module(catalogue_module)
catalogue = catalogue_module.catalogue
deployments = catalogue_module.deployments
gpu_budget = catalogue_module.gpu_budget
Error = catalogue_module.AnsibleFilterError


def declared(engine: str = "vllm") -> list[dict]:
    """The shipped declaration, with the per-host templates replaced by the reference inventory's values (vLLM
    embeddings, no Pascal server, the embed-pascal port beside vLLM) and asr_engine by `engine`."""
    services = yaml.safe_load((ROOT / "inventory" / "group_vars" / "all" / "services.yml").read_text())
    out = []
    for s in services["litellm_local_services"]:
        s = dict(s)
        if "enabled" in s:
            s["enabled"] = engine == "vllm" if "asr_engine" in s["enabled"] else "'vllm' in" in s["enabled"]
        if "engine" in s:
            s["engine"] = engine
        if isinstance(s["port"], str):
            s["port"] = 8110
        out.append(s)
    return out


def test_reference_hosts_get_their_services() -> None:
    a = catalogue(declared(), ["blackwell", "gateway"], "192.0.2.10")
    b = catalogue(declared(), ["embedding"], "192.0.2.11")
    assert [u["unit"] for u in a] == [
        "vllm-completions",
        "vllm-ocr",
        "asr",
        "vllm-asr-recognizer",
        "vllm-asr-aligner",
        "litellm",
        "litellm-edge",
    ]
    assert [u["unit"] for u in b] == ["vllm-embedding", "vllm-rerank"]
    by_unit = {u["unit"]: u for u in a + b}
    assert by_unit["vllm-ocr"]["url"] == "http://192.0.2.10:8102"
    assert by_unit["litellm"]["url"] == "http://127.0.0.1:4000" and by_unit["litellm"]["exposure"] == "loopback"
    assert by_unit["litellm-edge"]["scheme"] == "https" and by_unit["litellm-edge"]["exposure"] == "client"
    assert by_unit["asr"]["models"][1]["model"] == "Qwen/Qwen3-ForcedAligner-0.6B"
    assert by_unit["asr"]["hf_home"] == "/var/lib/litellm-local/asr/hf"
    assert by_unit["vllm-embedding"]["provider"] == "litellm-local-embed"
    assert by_unit["vllm-rerank"]["provider"] == "hosted_vllm" and by_unit["vllm-rerank"]["mode"] == "rerank"


def test_one_budget_over_every_gpu_service_of_a_host() -> None:
    a = catalogue(declared(), ["blackwell", "gateway"], "192.0.2.10")
    assert gpu_budget(a) == [
        {"unit": "vllm-completions", "gb": 14.0},
        {"unit": "vllm-ocr", "gb": 8.0},
        {"unit": "vllm-asr-recognizer", "gb": 4.0},
        {"unit": "vllm-asr-aligner", "gb": 3.0},
    ]
    assert sum(g["gb"] for g in gpu_budget(a)) <= 32 * 0.92  # inside the RTX 5090 beside chat and OCR
    t = catalogue(declared("transformers"), ["blackwell", "gateway"], "192.0.2.10")
    assert gpu_budget(t)[-1] == {"unit": "asr", "gb": 4.0} and len(gpu_budget(t)) == 3


def test_the_asr_engine_chooses_its_units_and_wires_them() -> None:
    a = {u["name"]: u for u in catalogue(declared(), ["blackwell"], "192.0.2.10")}
    assert a["asr"]["engine"] == "vllm" and a["asr"]["gpu"] is False and a["asr"]["gpu_memory_gb"] == 0
    assert a["asr"]["engine_backends"] == {
        "recognizer": {"unit": "vllm-asr-recognizer", "url": "http://192.0.2.10:8105", "served": "qwen3-asr"},
        "aligner": {"unit": "vllm-asr-aligner", "url": "http://192.0.2.10:8106", "served": "qwen3-forced-aligner"},
    }
    assert (
        a["asr-aligner"]["runner"] == "pooling" and a["asr-aligner"]["alias"] == "" and not a["asr-aligner"]["provider"]
    )
    assert a["asr-recognizer"]["models"] == [a["asr"]["models"][0]]
    # A host of the optional asr group runs the server (and its engine) too: one more replica of the alias.
    t = catalogue(declared("transformers"), ["asr", "embedding"], "192.0.2.11")
    assert [u["unit"] for u in t] == ["asr", "vllm-embedding", "vllm-rerank"]
    assert t[0]["engine"] == "transformers" and t[0]["gpu"] and t[0]["engine_backends"] == {}
    assert all(d["alias"] != "" for d in deployments({"a": list(a.values())}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"engine": "onnx"}, "engine .asr_engine. must be transformers or vllm"),
        ({"engine_services": {"recognizer": "nope", "aligner": "asr-aligner"}}, "needs its recognizer"),
        ({"engine_services": {"recognizer": "completions", "aligner": "asr-aligner"}}, "without an alias"),
        ({"engine_services": ["asr-recognizer"]}, "engine_services maps recognizer"),
    ],
)
def test_a_bad_asr_engine_is_refused(change: dict, message: str) -> None:
    services = [dict(s, **change) if s["name"] == "asr" else s for s in declared()]
    with pytest.raises(Error, match=message):
        catalogue(services, ["blackwell"], "192.0.2.10")


def test_gateway_deployments_count_replicas() -> None:
    a = catalogue(declared(), ["blackwell", "gateway"], "192.0.2.10")
    c = catalogue(declared(), ["blackwell"], "192.0.2.12")
    b = catalogue(declared(), ["embedding"], "192.0.2.11")
    found = deployments({"gpu-a": a, "gpu-b": b, "gpu-c": c})
    assert {(d["alias"], d["replicas"]) for d in found} == {
        ("completions", 2),
        ("ocr", 2),
        ("asr", 2),
        ("embedding", 1),
        ("rerank", 1),
    }
    asr = next(d for d in found if d["id"] == "asr@gpu-c")
    assert asr["litellm_params"] == {
        "model": "hosted_vllm/asr",
        "api_base": "http://192.0.2.12:8103/v1",
        "api_key": "unused",
    }
    emb = next(d for d in found if d["alias"] == "embedding")
    assert emb["litellm_params"]["model"] == "litellm-local-embed/embedding" and emb["mode"] == "embedding"
    assert "allowed_openai_params" in emb["litellm_params"]


def service(**kw) -> dict:
    return {
        "name": "x",
        "kind": "vllm",
        "groups": ["g"],
        "port": 9000,
        "model": "m",
        "lab_model": "l",
        "gpu_memory_gb": 1,
        "alias": "x",
        "mode": "chat",
        **kw,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "docker"}, "kind must be one of"),
        ({"port": 80}, "port must be 1024-65535"),
        ({"name": "Bad_Name"}, "lower-case"),
        ({"runner": "pooling"}, "runner: pooling serves mode embedding or rerank"),
        ({"runner": "pooling", "alias": "", "mode": "chat"}, "give it an alias, or no mode"),
        ({"mode": "embedding"}, "runner: pooling serves mode embedding or rerank"),
        ({"mode": "audio_transcription"}, "a vllm service serves mode"),
        ({"gpu_memory_gb": 0}, "gpu_memory_gb"),
        ({"groups": []}, "needs groups"),
        ({"model": ""}, "needs `model`"),
        ({"lab_model": ""}, "lab_model"),
    ],
)
def test_a_bad_entry_is_refused_with_what_to_fix(change: dict, message: str) -> None:
    with pytest.raises(Error, match=message) as err:
        catalogue([service(**change)], ["g"], "10.0.0.1", "lab")
    assert "services.yml" in str(err.value)


def test_two_services_on_one_port_are_refused() -> None:
    with pytest.raises(Error, match="would both have port 9000"):
        catalogue([service(), service(name="y")], ["g"], "10.0.0.1")


def test_enabled_and_groups_choose_the_hosts() -> None:
    assert catalogue([service(enabled="False")], ["g"], "a") == []
    assert catalogue([service()], ["other"], "a") == []
    assert [u["unit"] for u in catalogue([service(enabled="True")], ["g"], "a")] == ["vllm-x"]


def test_a_service_keeps_its_own_keys() -> None:
    (u,) = catalogue([service(extra_args=["--x"], venv="/opt/v")], ["g"], "a")
    assert u["extra_args"] == ["--x"] and u["venv"] == "/opt/v" and "groups" not in u


def test_two_services_of_one_alias_on_one_host_are_two_deployments() -> None:
    """Two GPUs of one host may each serve the alias: distinct deployment ids (LiteLLM routes and cools down by id)."""
    units = catalogue([service(), service(name="y", port=9001)], ["g"], "10.0.0.1")
    found = deployments({"h": units})
    assert [d["id"] for d in found] == ["vllm-x@h", "vllm-y@h"]
    assert {d["replicas"] for d in found} == {2}
