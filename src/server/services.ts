/** The administrative listeners beside the mail-facing ones: the control socket and the metrics endpoint. */
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { startControlServer, type ControlServer } from '../control/server.js';
import type { ControlTarget } from '../control/target.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';

export interface Services {
  close(): Promise<void>;
}

/** Start what the config asks for; on a failure close what was started and throw. */
export async function startServices(config: SmapdConfig, target: ControlTarget, log: Logger): Promise<Services> {
  let control: ControlServer | undefined;
  let metrics: MetricsServer | undefined;
  const close = async () => {
    await metrics?.close();
    await control?.close();
  };
  try {
    if (config.controlSocket) control = await startControlServer(config.controlSocket, target, log);
    if (config.metricsListen) metrics = await startMetricsServer(config.metricsListen, target, log);
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}
