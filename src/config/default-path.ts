/** Where smapd and `smapc --control` look for the config when none is named: `$SMAPD_CONF`, else /etc. */
export const SYSTEM_CONFIG = '/etc/smapd.conf';

export function defaultConfigFile(env: Record<string, string | undefined> = process.env): string {
  return env.SMAPD_CONF ?? SYSTEM_CONFIG;
}
