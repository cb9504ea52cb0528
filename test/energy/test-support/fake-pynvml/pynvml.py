"""A stand-in for pynvml's energy calls, for testing bench/gpu-energy-check.ts without a GPU.

nvmlDeviceGetTotalEnergyConsumption returns, in mJ, the energy the fake nvidia-smi's
printed samples describe up to now (`power.draw.instant` integrated with the trapezoid
rule, the last power held since the last sample), so both meters see the same load.
FAKE_PYNVML_LOG names the fake nvidia-smi's log of printed lines
(`timestamp, index, power.draw.instant, power.draw`, timestamps UTC).
"""
import calendar
import os
import time


class NVMLError(Exception):
    pass


def nvmlInit():
    if not os.environ.get("FAKE_PYNVML_LOG"):
        raise NVMLError("FAKE_PYNVML_LOG is not set")


def nvmlDeviceGetCount():
    return int(os.environ.get("FAKE_PYNVML_GPUS", "1"))


def nvmlDeviceGetHandleByIndex(index):
    return index


def _stamp_ms(text):
    date, clock = text.strip().split(" ")
    seconds, millis = clock.split(".")
    parsed = time.strptime(date + " " + seconds, "%Y/%m/%d %H:%M:%S")
    return calendar.timegm(parsed) * 1000.0 + float(millis)


def nvmlDeviceGetTotalEnergyConsumption(handle):
    now = time.time() * 1000.0
    points = []
    try:
        with open(os.environ["FAKE_PYNVML_LOG"]) as log:
            for line in log:
                parts = line.split(", ")
                if len(parts) < 3 or int(parts[1]) != handle:
                    continue
                points.append((_stamp_ms(parts[0]), float(parts[2])))
    except FileNotFoundError:
        pass
    joules = 0.0
    for (t0, w0), (t1, w1) in zip(points, points[1:]):
        joules += (w0 + w1) / 2.0 * (t1 - t0) / 1000.0
    if points and now > points[-1][0]:
        joules += points[-1][1] * (now - points[-1][0]) / 1000.0
    return int(joules * 1000.0)
