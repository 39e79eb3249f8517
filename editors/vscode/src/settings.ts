// The `splice` settings section as splice-lsp reads it (src/settings.rs), built from the editor's
// configuration. The same builder makes `initializationOptions` and every
// `workspace/didChangeConfiguration`, so both carry the same, well-typed values: splice-lsp
// rejects a whole section when one value has the wrong type. No `vscode` here.

import * as os from 'node:os';
import * as path from 'node:path';

export const SECTION = 'splice';

/** What the extension needs of `vscode.WorkspaceConfiguration` for the `splice` section. */
export interface ConfigReader {
  get(key: string): unknown;
}

export type AgentScope = 'all' | 'workspace' | 'pids';
export type SuccessHints = 'all' | 'off';
export type ModuleStatements = 'run' | 'ask' | 'off';

/** Exactly the keys splice-lsp understands; a missing key means the server's default. */
export interface ServerSettings {
  patchOnSave: boolean;
  patchOnAutoSave: boolean;
  runtimeDir?: string;
  agents?: AgentScope;
  pids?: number[];
  successHints?: SuccessHints;
  requestTimeoutMs?: number;
  moduleStatements?: ModuleStatements;
  codeLens?: boolean;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return allowed.find((a) => a === value);
}

/** `~` and `~/x` to the home folder; anything else unchanged. */
export function expandHome(value: string, home: string = os.homedir()): string {
  if (value === '~') {
    return home;
  }
  if (value.startsWith('~/') || value.startsWith('~\\')) {
    return path.join(home, value.slice(2));
  }
  return value;
}

export function serverSettings(config: ConfigReader, home?: string): ServerSettings {
  const settings: ServerSettings = {
    patchOnSave: config.get('patchOnSave') !== false,
    patchOnAutoSave: config.get('patchOnAutoSave') === true,
  };
  const statements = oneOf(config.get('moduleStatements'), ['run', 'ask', 'off'] as const);
  if (statements) {
    settings.moduleStatements = statements;
  }
  const runtimeDir = config.get('runtimeDir');
  if (typeof runtimeDir === 'string' && runtimeDir.trim() !== '') {
    settings.runtimeDir = expandHome(runtimeDir.trim(), home);
  }
  const agents = oneOf(config.get('agents'), ['all', 'workspace', 'pids'] as const);
  if (agents) {
    settings.agents = agents;
  }
  const pids = config.get('pids');
  if (Array.isArray(pids)) {
    settings.pids = pids.filter(
      (p): p is number => typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 2 ** 32,
    );
  }
  const hints = oneOf(config.get('successHints'), ['all', 'off'] as const);
  if (hints) {
    settings.successHints = hints;
  }
  const lens = config.get('codeLens');
  if (typeof lens === 'boolean') {
    settings.codeLens = lens;
  }
  const timeout = config.get('requestTimeoutMs');
  if (typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0) {
    settings.requestTimeoutMs = Math.round(timeout);
  }
  return settings;
}

/** `initializationOptions`, and the `settings` of `workspace/didChangeConfiguration`. */
export function initializationOptions(config: ConfigReader, home?: string): { splice: ServerSettings } {
  return { splice: serverSettings(config, home) };
}

/** A reader over a plain object, for tests and for anything not backed by VS Code. */
export function objectReader(values: Record<string, unknown>): ConfigReader {
  return {
    get(key: string): unknown {
      return values[key];
    },
  };
}
