"""The exact CPU a measurement ran on: vendor, model name, family/model/stepping, microarchitecture, ISA.

The same cloud VM size has come with different CPUs, and a CPU's model name alone often does not say
which (a VM's "AMD EPYC" is a Zen 4 Genoa or a Zen 5 Turin), while bf16 / int8 speedups differ
between them. The (vendor, family, model) numbers do say. The tables follow Linux's
arch/x86/kernel/cpu/amd.c (Zen generations) and arch/x86/include/asm/intel-family.h.

    python -m runtimes.cpuinfo      # one line, as the benchmark tables and `edgetokens devices` print it
"""
from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

PROC_CPUINFO = Path("/proc/cpuinfo")

# The instruction sets that decide which kernels ONNX Runtime, OpenVINO and torch pick: AVX2 and AVX-512
# (fp32), VNNI (int8 dot products), BF16 / FP16 (half precision), AMX tiles (Intel Sapphire Rapids+);
# avx_vnni and avx512_vp2intersect tell a Zen 5 from a Zen 4. ARM: dot product, int8 matmul, bf16, SVE.
X86_ISA = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "avx512_vp2intersect",
           "amx_bf16", "amx_int8", "amx_fp16")
ARM_ISA = ("asimd", "asimddp", "i8mm", "bf16", "sve", "sve2")

VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel", "HygonGenuine": "Hygon"}

# (family, first model, last model, name) for AMD; Linux's bsp_init_amd() ranges.
AMD_RANGES = (
    (23, 0x00, 0x2F, "Zen"), (23, 0x50, 0x5F, "Zen"),
    (23, 0x30, 0x4F, "Zen 2"), (23, 0x60, 0x7F, "Zen 2"), (23, 0x90, 0x91, "Zen 2"), (23, 0xA0, 0xAF, "Zen 2"),
    (25, 0x00, 0x0F, "Zen 3"), (25, 0x20, 0x5F, "Zen 3"),
    (25, 0x10, 0x1F, "Zen 4"), (25, 0x60, 0xAF, "Zen 4"),
    (26, 0x00, 0x4F, "Zen 5"), (26, 0x60, 0x7F, "Zen 5"),
    (26, 0x50, 0x5F, "Zen 6"), (26, 0x80, 0xAF, "Zen 6"), (26, 0xC0, 0xEF, "Zen 6"),
)
# The EPYC parts cloud VMs run on, where the model number names them.
AMD_SERVER_PARTS = {(23, 0x01): "Naples", (23, 0x31): "Rome", (25, 0x01): "Milan", (25, 0x11): "Genoa",
                    (25, 0xA0): "Bergamo", (26, 0x02): "Turin", (26, 0x11): "Turin Dense"}

# (family, model) -> name for Intel (intel-family.h).
INTEL_MODELS = {
    (6, 63): "Haswell-EP", (6, 79): "Broadwell-EP", (6, 85): "Skylake-SP / Cascade Lake-SP",
    (6, 106): "Ice Lake-SP", (6, 108): "Ice Lake-D", (6, 143): "Sapphire Rapids", (6, 207): "Emerald Rapids",
    (6, 173): "Granite Rapids", (6, 174): "Granite Rapids-D", (6, 175): "Sierra Forest",
    (6, 221): "Clearwater Forest", (19, 1): "Diamond Rapids",
    (6, 78): "Skylake", (6, 94): "Skylake", (6, 142): "Kaby Lake / Coffee Lake", (6, 158): "Kaby Lake / Coffee Lake",
    (6, 165): "Comet Lake", (6, 166): "Comet Lake", (6, 125): "Ice Lake", (6, 126): "Ice Lake",
    (6, 167): "Rocket Lake", (6, 140): "Tiger Lake", (6, 141): "Tiger Lake", (6, 151): "Alder Lake",
    (6, 154): "Alder Lake", (6, 183): "Raptor Lake", (6, 186): "Raptor Lake", (6, 191): "Raptor Lake",
    (6, 170): "Meteor Lake", (6, 172): "Meteor Lake", (6, 189): "Lunar Lake", (6, 181): "Arrow Lake",
    (6, 197): "Arrow Lake", (6, 198): "Arrow Lake", (6, 204): "Panther Lake",
}
# Family 6 model 85 is three generations, told apart by the stepping.
INTEL_MODEL_85_STEPPINGS = ((range(5), "Skylake-SP"), (range(5, 8), "Cascade Lake-SP"),
                            (range(10, 12), "Cooper Lake-SP"))

# (implementer, part) -> core, for ARM Linux (Jetson, Graviton, Ampere, Grace).
ARM_PARTS = {
    (0x41, 0xD07): "Cortex-A57", (0x41, 0xD08): "Cortex-A72", (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD41): "Cortex-A78", (0x41, 0xD42): "Cortex-A78AE", (0x41, 0xD0C): "Neoverse N1",
    (0x41, 0xD40): "Neoverse V1", (0x41, 0xD49): "Neoverse N2", (0x41, 0xD4F): "Neoverse V2",
    (0x4E, 0x004): "NVIDIA Carmel",
}


def parse_cpuinfo(text: str) -> tuple[dict[str, str], int]:
    """The fields of the first processor block of a /proc/cpuinfo text, and how many processors it lists.

    ARM kernels put some fields (Hardware, Serial) in a block of their own after the processors; those
    fill in what the first block lacks.
    """
    blocks = [{}]
    for line in text.splitlines():
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, sep, value = line.partition(":")
        if sep:
            blocks[-1].setdefault(key.strip().lower(), value.strip())
    blocks = [b for b in blocks if b]
    fields = dict(blocks[0]) if blocks else {}
    for block in blocks[1:]:
        for key, value in block.items():
            fields.setdefault(key, value)
    processors = sum("processor" in b for b in blocks)
    return fields, processors


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def microarchitecture(vendor: str | None, family: int | None, model: int | None,
                      stepping: int | None = None) -> str | None:
    """Name of an x86 core from its CPUID numbers, e.g. ("AuthenticAMD", 26, 2) -> "Zen 5 (Turin)"; None if unknown."""
    if family is None or model is None:
        return None
    if vendor in ("AuthenticAMD", "AMD"):
        for fam, first, last, name in AMD_RANGES:
            if fam == family and first <= model <= last:
                part = AMD_SERVER_PARTS.get((family, model))
                return f"{name} ({part})" if part else name
        return None
    if vendor in ("GenuineIntel", "Intel"):
        if (family, model) == (6, 85) and stepping is not None:
            for steppings, name in INTEL_MODEL_85_STEPPINGS:
                if stepping in steppings:
                    return name
        return INTEL_MODELS.get((family, model))
    return None


def facts_from_cpuinfo(text: str) -> dict:
    fields, processors = parse_cpuinfo(text)
    flags = set(fields.get("flags", fields.get("features", "")).split())
    if "cpu implementer" in fields:  # ARM
        implementer, part = to_int(fields.get("cpu implementer")), to_int(fields.get("cpu part"))
        core = ARM_PARTS.get((implementer, part))
        return {
            "vendor": f"ARM implementer {fields['cpu implementer']}", "model_name": fields.get("model name") or core,
            "family": None, "model": part, "stepping": to_int(fields.get("cpu variant")),
            "microarchitecture": core, "isa": [f for f in ARM_ISA if f in flags],
            "logical_cpus": processors or os.cpu_count(), "arch": "arm",
        }
    vendor = fields.get("vendor_id")
    family, model, stepping = (to_int(fields.get(k)) for k in ("cpu family", "model", "stepping"))
    return {
        "vendor": vendor, "model_name": fields.get("model name"), "family": family, "model": model,
        "stepping": stepping, "microarchitecture": microarchitecture(vendor, family, model, stepping),
        "isa": [f for f in X86_ISA if f in flags], "logical_cpus": processors or os.cpu_count(),
        "arch": "x86" if flags or family is not None else None,
    }


def facts_from_platform() -> dict:
    """Off Linux: Windows' platform.processor() reads "Intel64 Family 6 Model 143 Stepping 8, GenuineIntel"."""
    text = platform.processor() or platform.machine()
    match = re.search(r"Family (\d+) Model (\d+) Stepping (\d+), (\w+)", text)
    facts = {"vendor": None, "model_name": text or None, "family": None, "model": None, "stepping": None,
             "microarchitecture": None, "isa": None, "logical_cpus": os.cpu_count(), "arch": None}
    if match:
        family, model, stepping = (int(g) for g in match.groups()[:3])
        vendor = match.group(4)
        facts.update(vendor=vendor, family=family, model=model, stepping=stepping, arch="x86",
                     microarchitecture=microarchitecture(vendor, family, model, stepping))
    return facts


def cpu_facts(cpuinfo_text: str | None = None) -> dict:
    """The CPU as a dict: vendor (CPUID vendor string), model_name, family, model, stepping (ints or
    None), microarchitecture (or None), isa (the present instruction sets of X86_ISA / ARM_ISA; None
    where the flags cannot be read),
    logical_cpus, arch ("x86", "arm" or None). Reads /proc/cpuinfo unless given its text."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = PROC_CPUINFO.read_text()
        except OSError:
            return facts_from_platform()
    facts = facts_from_cpuinfo(cpuinfo_text)
    if not facts["model_name"] and facts["family"] is None:
        fallback = facts_from_platform()
        facts["model_name"] = fallback["model_name"]
    return facts


def describe_cpu(cpuinfo_text: str | None = None) -> str:
    """One line naming the exact CPU, e.g.
    "AMD EPYC (AMD family 26 model 2 (0x02) stepping 1, Zen 5 (Turin); avx2 avx512f avx512_vnni avx512_bf16 ...)".
    """
    facts = cpu_facts(cpuinfo_text)
    name = facts["model_name"] or "unknown CPU"
    details = []
    if facts["family"] is not None and facts["model"] is not None:
        vendor = VENDORS.get(facts["vendor"], facts["vendor"] or "x86")
        numbers = f"{vendor} family {facts['family']} model {facts['model']} (0x{facts['model']:02x})"
        if facts["stepping"] is not None:
            numbers += f" stepping {facts['stepping']}"
        details.append(numbers)
    elif facts["arch"] == "arm" and facts["model"] is not None:
        details.append(f"{facts['vendor']} part 0x{facts['model']:03x}")
    if facts["microarchitecture"] and facts["microarchitecture"] != name:
        details.append(facts["microarchitecture"])
    isa = " ".join(facts["isa"] or [])
    if facts["arch"] == "x86" and facts["isa"] is not None and "avx2" not in facts["isa"]:
        isa = (isa + " " if isa else "") + "no AVX2"
    head = ", ".join(details)
    inside = "; ".join(part for part in (head, isa) if part)
    return f"{name} ({inside})" if inside else name


if __name__ == "__main__":
    print(describe_cpu())
    print(json.dumps(cpu_facts(), indent=2))
