/**
 * A device's energy, estimated: a browser has no energy counter, so a local inference's
 * joules come from a power model, `P_active` while the inference runs against `P_idle`
 * with the page open and nothing running:
 *
 *   gross joules  = P_active x compute seconds
 *   active joules = (P_active - P_idle) x compute seconds
 *
 * Every constant is `assumed` and says so, with its basis; the joules are `estimated`.
 * Where an instrument measures the phone (a USB meter, read through the energy
 * service's external meter), its figure replaces this one and is labelled `external`
 * (docs/device.md). The charger's losses are the footprint's (bench/footprint), which
 * divides a battery device's energy by the charger efficiency. Browser-safe.
 */
import type { DeviceEnergy, SourcedWatts } from './protocol.ts';

export interface DevicePowerModel {
  activeWatts: SourcedWatts;
  idleWatts: SourcedWatts;
}

/**
 * Defaults for a phone running one inference thread, screen on. Order-of-magnitude
 * assumptions, not measurements: measure your phone (docs/device.md) and pass the
 * figures with the workload.
 */
export const DEFAULT_POWER_MODEL: DevicePowerModel = Object.freeze({
  activeWatts: Object.freeze({
    value: 3.0,
    source:
      "assumed: one big CPU core busy with the screen on, about 3 W: the few watts that AnandTech's smartphone SoC reviews measure for one big core of a recent phone SoC running SPEC CPU, plus the display; not a measurement of this phone",
  }),
  idleWatts: Object.freeze({
    value: 1.0,
    source:
      'assumed: a phone with the screen on and the page open, idle, about 1 W (display and SoC idle; Carroll and Heiser, "An Analysis of Power Consumption in a Smartphone", USENIX ATC 2010, found the display and the GSM radio the largest idle consumers); not a measurement of this phone',
  }),
});

export const POWER_MODEL_NAME =
  'device power model: gross = P_active x compute time, active = (P_active - P_idle) x compute time (services/device/energy.ts)';

/** The model with a workload's overrides. */
export function powerModel(overrides?: Partial<DevicePowerModel>): DevicePowerModel {
  return {
    activeWatts: overrides?.activeWatts ?? DEFAULT_POWER_MODEL.activeWatts,
    idleWatts: overrides?.idleWatts ?? DEFAULT_POWER_MODEL.idleWatts,
  };
}

/** Gross joules of one local inference that computed for `computeMs`. */
export function inferenceJoules(model: DevicePowerModel, computeMs: number): number {
  return (model.activeWatts.value * computeMs) / 1000;
}

/** The estimated energy of the local inferences of a measured part. */
export function deviceEnergy(
  model: DevicePowerModel,
  computeMs: number,
  durationMs: number,
): DeviceEnergy {
  const seconds = computeMs / 1000;
  return {
    grossJoules: model.activeWatts.value * seconds,
    activeJoules: Math.max(0, model.activeWatts.value - model.idleWatts.value) * seconds,
    computeMs,
    durationMs,
    provenance: 'estimated',
    model: POWER_MODEL_NAME,
    constants: [
      {
        name: 'activeWatts',
        value: model.activeWatts.value,
        unit: 'W',
        source: model.activeWatts.source,
        provenance: 'assumed',
      },
      {
        name: 'idleWatts',
        value: model.idleWatts.value,
        unit: 'W',
        source: model.idleWatts.source,
        provenance: 'assumed',
      },
    ],
  };
}
