#!/usr/bin/env python3
"""Writes gpu_check.json from a GPU check's work folder (called by gpu_check.sh after
every step): each step's status, the CUDA tests passed, failed and skipped, the figures
each step produced, and a verdict.

usage: gpu_check_summary.py WORK OUT DRY PHASE GPU_PRESENT
"""
import json
import os
import shutil
import sys


def load(work, name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_steps(work):
    steps = {}
    with open(os.path.join(work, "steps.tsv")) as f:
        for line in f:
            name, status, code, seconds, note = line.rstrip("\n").split("\t")
            steps[name] = {"status": status, "exit": code, "seconds": float(seconds)}
            if note:
                steps[name]["note"] = note
    return steps


def test_counts(report):
    """Counts from GoogleTest's JSON, skipped tests included (a case whose result is
    SKIPPED; GoogleTest's totals do not count them)."""
    cases = [(s["name"], t) for s in report.get("testsuites", []) for t in s.get("testsuite", [])]
    failed = [f"{s}.{t['name']}" for s, t in cases if t.get("failures")]
    skipped = [f"{s}.{t['name']}" for s, t in cases if t.get("result") == "SKIPPED"]
    return {"tests": len(cases), "passed": len(cases) - len(failed) - len(skipped),
            "failed": len(failed), "skipped": len(skipped),
            "failed_tests": failed, "skipped_tests": skipped}


CUDA_TEST_STEPS = ("cuda_ops", "cuda_training")


def judge_tests(step, tests, gpu_present):
    """A CUDA test that skips on a machine that lists a GPU means the runtime did not
    come up there: the step fails, whatever its exit status."""
    if not step or not tests:
        return
    if gpu_present and tests["skipped"]:
        step["status"] = "fail"
        step["note"] = f"{tests['skipped']} CUDA tests skipped on a machine with a GPU"
    elif not gpu_present and tests["skipped"] and step["status"] == "pass":
        step["note"] = f"{tests['skipped']} CUDA tests skipped: no GPU listed here"


def cuda_tests(work, out, steps, gpu_present):
    """Each CUDA test step's counts, judged, and all of them added up (None if no step
    wrote its report)."""
    total = None
    for name in CUDA_TEST_STEPS:
        report = load(work, f"{name}.json")
        if not report:
            continue
        tests = test_counts(report)
        judge_tests(steps.get(name), tests, gpu_present)
        shutil.copy(os.path.join(work, f"{name}.json"), os.path.join(out, f"{name}.json"))
        if total is None:
            total = tests
        else:
            total = {k: total[k] + tests[k] for k in total}
    return total


def figures(work, out, summary):
    for name in ("compare_fp32", "compare_tf32"):
        c = load(work, f"{name}/comparison.json")
        if c:
            summary[name] = {"rows": c["rows"], "targets": c["targets"],
                             "device": c["sgdlab"]["device"], "floors": c["sgdlab"]["floors"],
                             "torch": c["torch"] and {"version": c["torch"]["torch"],
                                                      "device": c["torch"]["device"]}}
            shutil.copy(os.path.join(work, name, "comparison.json"), os.path.join(out, f"{name}.json"))
    ops = load(work, "op_bench.json")
    if ops:
        summary["op_bench"] = [{"name": b["name"], "us": b["real_time"], "flops": b.get("FLOP/s"),
                                "bytes": b.get("B/s")} for b in ops.get("benchmarks", [])]
    for name in ("bench_lane_gemm", "bench_streams", "bench_capture_none", "bench_capture_epoch"):
        b = load(work, f"{name}.json")
        if b:
            summary[name] = {"device": b["device"],
                             "runs": [{k: r[k] for k in ("model", "lanes", "trial_epochs_per_s",
                                                         "percent_fp32_peak")} for r in b["runs"]]}
    sweeps = {}
    for name in ("sweep_packed", "sweep_single"):
        log = os.path.join(work, f"{name}.log")
        if os.path.exists(log):
            with open(log) as f:
                sweeps[name] = [l.strip() for l in f if "trials/s" in l or "best" in l][-2:]
    if sweeps:
        summary["sweeps"] = sweeps
    r = load(work, "study/report.json")
    if r:
        summary["study"] = {m: {"final_test_mean": v["final"]["test_mean"],
                                "final_test_std": v["final"]["test_std"]}
                            for m, v in r["models"].items()} | {"seconds": r.get("seconds")}
        if os.path.exists(os.path.join(work, "study", "report.md")):
            shutil.copy(os.path.join(work, "study", "report.md"), os.path.join(out, "study_report.md"))


def sanitizer_reports(work, summary):
    """compute-sanitizer's own closing line of each sanitizer step (memcheck: 'ERROR
    SUMMARY: N errors'; racecheck: 'RACECHECK SUMMARY: N hazards displayed ...')."""
    reports = {}
    for name in ("memcheck_ops", "racecheck_ops", "memcheck_train"):
        try:
            with open(os.path.join(work, f"{name}.log"), errors="replace") as f:
                lines = [l.strip("= \n") for l in f if "SUMMARY:" in l]
        except OSError:
            continue
        if lines:
            reports[name] = lines[-1]
    if reports:
        summary["sanitizers"] = reports


def verdict(steps):
    states = [s["status"] for s in steps.values()]
    if any(s == "fail" for s in states):
        return "fail"
    return "incomplete" if any(s == "not_run" for s in states) else "pass"


def main():
    work, out, dry, phase, gpu_present = sys.argv[1:6]
    gpu_present = gpu_present == "1"
    steps = read_steps(work)
    summary = {"dry_run": dry == "1", "phase": phase, "gpu_listed_by_nvidia_smi": gpu_present}
    tests = cuda_tests(work, out, steps, gpu_present)
    if tests:
        summary["cuda_tests"] = tests
    summary["steps"] = steps
    figures(work, out, summary)
    sanitizer_reports(work, summary)
    summary["verdict"] = verdict(steps)
    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
