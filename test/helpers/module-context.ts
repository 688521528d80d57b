/** A real module/database context for calling a module directly in unit tests. */
import { pino } from 'pino';
import type { DatabaseContext, ModuleContext } from '../../src/modules/api.js';
import { parseOptions } from '../../src/modules/options.js';
import { compileTemplate } from '../../src/modules/template.js';
import { compileReplyTemplate } from '../../src/modules/reply-template.js';
import { replies } from '../../src/protocol/reply.js';
import { DEFAULT_QUERY_TIMEOUT_MS } from '../../src/modules/handle.js';

export const silentLogger = pino({ level: 'silent' });

export function moduleContext(moduleId = 'test', configDir = process.cwd()): ModuleContext {
  return {
    moduleId,
    log: silentLogger,
    reply: replies,
    parseOptions,
    compileTemplate,
    compileReply: (text, allowed, what) => compileReplyTemplate({ reply: replies, compileTemplate }, text, allowed, what),
    configDir,
  };
}

export function databaseContext(
  dbId = 'testdb',
  moduleArgs: readonly string[] = [],
  moduleId = 'test',
  configDir = process.cwd(),
  queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): DatabaseContext {
  return { ...moduleContext(moduleId, configDir), dbId, moduleArgs, dataChanged: () => undefined, queryTimeoutMs };
}
