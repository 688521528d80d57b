/**
 * Makes `import … from 'smapd/module'` work in every module smapd loads, wherever its file is: the hook in
 * `api-resolve-hook.ts` maps that specifier to this smapd's own `api.js`. Registered once per process,
 * before the first module is imported.
 */
import { register } from 'node:module';
import type { ApiResolveData } from './api-resolve-hook.js';

let registered = false;

/** Install the resolve hook (once; later calls do nothing). */
export function registerApiResolution(): void {
  if (registered) return;
  registered = true;
  const data: ApiResolveData = { apiUrl: new URL('./api.js', import.meta.url).href };
  register(new URL('./api-resolve-hook.js', import.meta.url), { data });
}
