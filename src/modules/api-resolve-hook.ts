/**
 * A module resolve hook (Node's `module.register`), run on Node's loader thread: it answers the bare
 * specifier `smapd/module` with the module API of the smapd that is running. Without it, a module file
 * outside any `node_modules` tree (`/etc/smapd/modules/x.js`) could not import `smapd/module` at all, and a
 * module that brings its own copy of smapd would get a second API whose error classes the daemon does not
 * recognise. Every other specifier resolves as Node resolves it.
 */
import type { InitializeHook, ResolveHook } from 'node:module';

/** What `registerApiResolution` passes to the hook thread. */
export interface ApiResolveData {
  /** The `file:` URL of the running smapd's `api.js`. */
  readonly apiUrl: string;
}

/** The public API's specifier, as package.json `exports` names it. */
const API_SPECIFIER = 'smapd/module';

let apiUrl: string | undefined;

export const initialize: InitializeHook<ApiResolveData> = (data) => {
  apiUrl = data.apiUrl;
};

export const resolve: ResolveHook = (specifier, context, nextResolve) => {
  if (specifier === API_SPECIFIER && apiUrl !== undefined) return { url: apiUrl, format: 'module', shortCircuit: true };
  return nextResolve(specifier, context);
};
