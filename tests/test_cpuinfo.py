"""The exact CPU from /proc/cpuinfo texts: a Zen 4 and a Zen 5 both call themselves "AMD EPYC" in a VM."""
import pytest

from runtimes import cpuinfo

COMMON_X86 = "fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2"


def fake_cpuinfo(vendor, family, model, stepping, name, flags, processors=2):
    block = (f"processor\t: {{n}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
             f"model name\t: {name}\nstepping\t: {stepping}\nmicrocode\t: 0x1000065\n"
             f"flags\t\t: {COMMON_X86} {flags}\npower management:\n")
    return "\n".join(block.format(n=n) for n in range(processors)) + "\n"


ZEN4 = fake_cpuinfo("AuthenticAMD", 25, 17, 1, "AMD EPYC 9R14 96-Core Processor",
                    "avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni avx512_bitalg")
ZEN5 = fake_cpuinfo("AuthenticAMD", 26, 2, 1, "AMD EPYC",
                    "avx512f avx512dq avx_vnni avx512_bf16 avx512_vnni avx512_vp2intersect", processors=4)
SAPPHIRE_RAPIDS = fake_cpuinfo(
    "GenuineIntel", 6, 143, 8, "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
    "avx512f avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_bf16 amx_tile amx_int8")
JETSON_ORIN = ("processor\t: 0\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp\n"
               "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd42\n"
               "CPU revision\t: 1\n\n")


def test_zen4_and_zen5_are_told_apart():
    zen4, zen5 = cpuinfo.cpu_facts(ZEN4), cpuinfo.cpu_facts(ZEN5)
    assert (zen4["vendor"], zen4["family"], zen4["model"], zen4["stepping"]) == ("AuthenticAMD", 25, 17, 1)
    assert zen4["microarchitecture"] == "Zen 4 (Genoa)"
    assert zen4["isa"] == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert (zen5["family"], zen5["model"], zen5["microarchitecture"]) == (26, 2, "Zen 5 (Turin)")
    assert "avx512_vp2intersect" in zen5["isa"] and "avx_vnni" in zen5["isa"]
    assert zen5["logical_cpus"] == 4
    assert cpuinfo.describe_cpu(ZEN4) == ("AMD EPYC 9R14 96-Core Processor (AMD family 25 model 17 (0x11) stepping 1, "
                                          "Zen 4 (Genoa); avx2 avx512f avx512_vnni avx512_bf16)")
    assert cpuinfo.describe_cpu(ZEN5) == ("AMD EPYC (AMD family 26 model 2 (0x02) stepping 1, Zen 5 (Turin); "
                                          "avx2 avx512f avx512_vnni avx512_bf16 avx_vnni avx512_vp2intersect)")


def test_sapphire_rapids_with_amx():
    facts = cpuinfo.cpu_facts(SAPPHIRE_RAPIDS)
    assert (facts["vendor"], facts["family"], facts["model"], facts["stepping"]) == ("GenuineIntel", 6, 143, 8)
    assert facts["microarchitecture"] == "Sapphire Rapids"
    assert facts["isa"] == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                            "amx_bf16", "amx_int8"]
    assert cpuinfo.describe_cpu(SAPPHIRE_RAPIDS) == (
        "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (Intel family 6 model 143 (0x8f) stepping 8, Sapphire Rapids; "
        "avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_bf16 amx_int8)")


@pytest.mark.parametrize("vendor, family, model, stepping, name", [
    ("AuthenticAMD", 25, 0x01, 1, "Zen 3 (Milan)"),
    ("AuthenticAMD", 25, 0x61, 2, "Zen 4"),  # Raphael desktop
    ("AuthenticAMD", 25, 0xA0, 2, "Zen 4 (Bergamo)"),
    ("AuthenticAMD", 26, 0x11, 0, "Zen 5 (Turin Dense)"),
    ("AuthenticAMD", 26, 0x44, 0, "Zen 5"),  # Granite Ridge desktop
    ("AuthenticAMD", 23, 0x31, 0, "Zen 2 (Rome)"),
    ("GenuineIntel", 6, 207, 2, "Emerald Rapids"),
    ("GenuineIntel", 6, 173, 1, "Granite Rapids"),
    ("GenuineIntel", 6, 174, 1, "Granite Rapids-D"),
    ("GenuineIntel", 6, 106, 6, "Ice Lake-SP"),
    ("GenuineIntel", 6, 85, 4, "Skylake-SP"),
    ("GenuineIntel", 6, 85, 7, "Cascade Lake-SP"),
    ("GenuineIntel", 6, 85, None, "Skylake-SP / Cascade Lake-SP"),
    ("GenuineIntel", 6, 1, 0, None),
    ("AuthenticAMD", 27, 0, 0, None),
])
def test_microarchitecture_table(vendor, family, model, stepping, name):
    assert cpuinfo.microarchitecture(vendor, family, model, stepping) == name


def test_unknown_and_old_cpus_still_get_a_line():
    assert cpuinfo.describe_cpu("model name : Old\nflags : fpu sse2\n") == "Old (no AVX2)"
    unknown = fake_cpuinfo("GenuineIntel", 6, 1, 0, "Future Xeon", "")
    assert cpuinfo.describe_cpu(unknown) == "Future Xeon (Intel family 6 model 1 (0x01) stepping 0; avx2)"


def test_arm_cores_by_implementer_and_part():
    facts = cpuinfo.cpu_facts(JETSON_ORIN)
    assert facts["arch"] == "arm" and facts["microarchitecture"] == "Cortex-A78AE"
    assert facts["isa"] == ["asimd", "asimddp"]
    assert cpuinfo.describe_cpu(JETSON_ORIN) == "Cortex-A78AE (ARM implementer 0x41 part 0xd42; asimd asimddp)"


def test_off_linux_reads_windows_processor_string(monkeypatch, tmp_path):
    monkeypatch.setattr(cpuinfo, "PROC_CPUINFO", tmp_path / "missing")
    monkeypatch.setattr(cpuinfo.platform, "processor", lambda: "Intel64 Family 6 Model 143 Stepping 8, GenuineIntel")
    facts = cpuinfo.cpu_facts()
    assert (facts["family"], facts["model"], facts["stepping"]) == (6, 143, 8)
    assert facts["microarchitecture"] == "Sapphire Rapids"
    assert "Sapphire Rapids" in cpuinfo.describe_cpu()


def test_this_machine_has_a_description():
    line = cpuinfo.describe_cpu()
    assert line and cpuinfo.cpu_facts()["logical_cpus"] >= 1


def test_benchmark_tables_and_devices_command_print_it(capsys):
    from edgetokens import benchmark
    from edgetokens.cli import main

    assert benchmark.cpu_description(ZEN5) == cpuinfo.describe_cpu(ZEN5)
    assert cpuinfo.describe_cpu() in benchmark.machine_summary()
    assert main(["devices"]) == 0
    assert f"CPU: {cpuinfo.describe_cpu()}" in capsys.readouterr().out
