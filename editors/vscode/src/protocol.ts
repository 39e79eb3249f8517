// Splice's part of the LSP surface as splice-lsp defines it (src/lsp/ext.rs): the commands it
// executes, the `splice/patchResult` notification and the shapes of both. No `vscode` here.

/** Commands splice-lsp executes through `workspace/executeCommand`. */
export const ServerCommand = {
  patchFunction: 'splice.patchFunction',
  patchFile: 'splice.patchFile',
  revertFunction: 'splice.revertFunction',
  runStatement: 'splice.runStatement',
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

/** What became of a definition (`Status` in crates/splice-protocol/src/messages.rs). */
export type DefinitionStatus = 'patched' | 'unchanged' | 'added' | 'refused' | 'error' | 'not-loaded' | 'reverted';

/**
 * Why a definition got its status: the protocol's reason codes (`Reason::ALL` in
 * crates/splice-protocol/src/messages.rs, in its order; a unit test keeps them equal).
 */
export const REASONS = [
  // Taken.
  'code-replaced',
  'lines-moved',
  'redecorated',
  'rebound',
  'created',
  'statement-ran',
  'import-ran',
  'attribute-set',
  'deleted',
  'lambda-replaced',
  'same-code',
  // Not taken, by a rule.
  'kind-changed',
  'closure-changed',
  'class-header-changed',
  'metaclass-owns-attributes',
  'dataclass-field',
  'enum-member',
  'entry-point',
  'statement-running',
  'not-reached',
  'block-with-definitions',
  'statement-not-run',
  'statement-not-undone',
  'not-defined',
  'ambiguous',
  'property-changed',
  'container-missing',
  'reserved-name',
  'part-too-large',
  // Not taken: broken or raised.
  'syntax-error',
  'compile-error',
  'statement-raised',
  'decorator-raised',
  'defaults-raised',
  'definition-raised',
  'commit-failed',
  'file-not-loaded',
  'nothing-to-revert',
  'reverted',
  'internal',
] as const;
export type Reason = (typeof REASONS)[number];

export interface DefinitionReport {
  qualname: string;
  status: DefinitionStatus;
  /** Programs decide on `status` and `reason`; `message` is for people only. */
  reason: Reason;
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

/** `save`, `patchFunction`, `patchFile`, `runStatement` or `revertFunction`. */
export type Trigger = string;

export interface PatchResultParams {
  uri: string;
  trigger: Trigger;
  agents: AgentReport[];
  /** Set when no running program has the file loaded, or none runs at all. */
  notLoaded?: NotLoaded;
}

/** Why nothing was patched: no program runs with the agent, or none has the file loaded. */
export type NotLoadedReason = 'no-program' | 'file-not-loaded';

export interface NotLoaded {
  reason: NotLoadedReason;
  message: string;
}

/** One entry of the answer to `splice.listAgents`. */
export interface AgentListing {
  pid: number;
  program: string;
  /** The process that started this one, when known. */
  parentPid: number | null;
  /** The root of its process tree (itself when it is one), and that tree in one line:
   * `gunicorn (pid 10): 2 workers`. */
  rootPid: number;
  tree: string;
  argv: string[];
  cwd: string;
  pythonVersion: string;
  address: string;
  startedAt: number;
}
