// Splice's part of the LSP surface as splice-lsp defines it (src/lsp/ext.rs): the commands it
// executes, the `splice/patchResult` notification and the shapes of both. No `vscode` here.

/** Commands splice-lsp executes through `workspace/executeCommand`. */
export const ServerCommand = {
  patchFunction: 'splice.patchFunction',
  patchFile: 'splice.patchFile',
  revertFunction: 'splice.revertFunction',
  listAgents: 'splice.listAgents',
} as const;
export type ServerCommandId = (typeof ServerCommand)[keyof typeof ServerCommand];

/**
 * The extension's own commands, contributed in package.json. vscode-languageclient registers
 * every server command above as a VS Code command of the same name (that is how the server's
 * code action runs), so these ids must differ from them.
 */
export const EditorCommand = {
  patchFunctionAtCursor: 'splice.patchFunctionAtCursor',
  patchFile: 'splice.patchCurrentFile',
  revertFunction: 'splice.revertFunctionAtCursor',
  showAgents: 'splice.showAgents',
  restartServer: 'splice.restartServer',
} as const;
export type EditorCommandId = (typeof EditorCommand)[keyof typeof EditorCommand];

export const PATCH_RESULT = 'splice/patchResult';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface PositionArgs {
  uri: string;
  position: Position;
}

export interface UriArgs {
  uri: string;
}

/** `patched`, `unchanged`, `added`, `refused`, `error`, `not-loaded` or `reverted`. */
export type DefinitionStatus = string;

export interface DefinitionReport {
  qualname: string;
  status: DefinitionStatus;
  message: string;
  range: Range | null;
  liveFunctions: number;
}

export interface AgentReport {
  pid: number;
  program: string;
  modules: string[];
  error?: string;
  definitions: DefinitionReport[];
}

/** `save`, `patchFunction`, `patchFile` or `revertFunction`. */
export type Trigger = string;

export interface PatchResultParams {
  uri: string;
  trigger: Trigger;
  agents: AgentReport[];
  /** Set when no running program has the file loaded, or none runs at all. */
  notLoaded?: string;
}

/** One entry of the answer to `splice.listAgents`. */
export interface AgentListing {
  pid: number;
  program: string;
  argv: string[];
  cwd: string;
  pythonVersion: string;
  address: string;
  startedAt: number;
}
