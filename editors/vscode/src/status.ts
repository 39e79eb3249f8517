// The status bar's text, from the connected programs and the last `splice/patchResult`:
// `Splice: 2 programs · ✓ patched handle_request`, `… · ✗ refused: closure changed`.
// No `vscode` here.

import type { AgentReport, DefinitionReport, DefinitionStatus, PatchResultParams, Reason } from './protocol';

export type Tone = 'normal' | 'success' | 'warning' | 'error';

/** What one patch attempt came to, in a few words and in full. */
export interface Outcome {
  text: string;
  tone: Tone;
  /** One line per program and definition, for the tooltip. */
  details: string[];
}

export type ServerState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusModel {
  server: ServerState;
  /** Programs running with the agent, when known. */
  agents?: number;
  last?: Outcome;
  /** Why the server is not running. */
  problem?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  tone: Tone;
}

const SUCCESS: ReadonlySet<DefinitionStatus> = new Set(['patched', 'added', 'reverted']);
const FAILURE: ReadonlySet<DefinitionStatus> = new Set(['refused', 'error']);
const MAX_REASON = 48;

/** Reasons whose message is the news (the syntax error, the exception raised): shown as sent. */
const MESSAGE_SAYS_WHY: ReadonlySet<Reason> = new Set<Reason>([
  'syntax-error',
  'compile-error',
  'statement-raised',
  'decorator-raised',
  'defaults-raised',
  'definition-raised',
]);

/** A few words for the reasons a failure can have; the others read well as their code. */
const REASON_WORDS: Partial<Record<Reason, string>> = {
  'kind-changed': 'generator/coroutine kind changed',
  'metaclass-owns-attributes': 'attributes owned by a metaclass',
  'dataclass-field': 'dataclass field changed',
  'enum-member': 'enum member changed',
  'entry-point': '__main__ block is not run again',
  'statement-running': 'statement is running now',
  'not-reached': 'not reached by the program yet',
  'block-with-definitions': 'block with definitions',
  'statement-not-run': 'module statements are not run',
  'statement-not-undone': 'removed statement not undone',
  'not-defined': 'not defined in the program',
  ambiguous: 'several functions by this name',
  'property-changed': 'property accessor added',
  'container-missing': 'enclosing definition not in the program',
  'reserved-name': "the module's own name",
  'part-too-large': 'too large to patch',
  'commit-failed': 'commit failed and was undone',
  'file-not-loaded': 'not loaded in the program',
  internal: 'internal error',
};

function clip(text: string, max = MAX_REASON): string {
  const line = text.split('\n', 1)[0].trim();
  return line.length <= max ? line : `${line.slice(0, max - 1).trimEnd()}…`;
}

/** Why `definition` was not taken, in a few words: decided on its reason code, never its message. */
export function shortReason(definition: Pick<DefinitionReport, 'reason' | 'message'>): string {
  const { reason, message } = definition;
  if (MESSAGE_SAYS_WHY.has(reason) && message.trim() !== '') {
    return clip(message);
  }
  // A code this extension does not know yet (a newer agent) reads as its words.
  return REASON_WORDS[reason] ?? reason.replace(/-/g, ' ');
}

function names(reports: DefinitionReport[]): string {
  const unique = [...new Set(reports.map((d) => d.qualname))];
  if (unique.length <= 2) {
    return unique.join(', ');
  }
  return `${unique.slice(0, 2).join(', ')} +${unique.length - 2}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function agentLabel(agent: AgentReport): string {
  return `${agent.program} (pid ${agent.pid})`;
}

const TRIGGERS: Record<string, string> = {
  save: 'Patched on save',
  patchFunction: 'Patch function',
  patchFile: 'Patch file',
  runStatement: 'Run statement',
  revertFunction: 'Revert function',
};

function fileName(uri: string): string {
  const last = uri.replace(/[?#].*$/, '').split('/').pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

function detailLines(result: PatchResultParams): string[] {
  const lines = [`${TRIGGERS[result.trigger] ?? result.trigger}: ${fileName(result.uri)}`];
  for (const agent of result.agents) {
    if (agent.error !== undefined) {
      lines.push(`${agentLabel(agent)}: ${agent.error}`);
    }
    for (const d of agent.definitions) {
      if (d.status === 'unchanged') {
        continue;
      }
      const live = d.liveFunctions > 0 ? ` · ${plural(d.liveFunctions, 'live function')}` : '';
      const message = d.message !== '' ? `: ${d.message}` : '';
      lines.push(`${agentLabel(agent)}: ${d.qualname} ${d.status}${live}${message}`);
    }
  }
  if (result.notLoaded !== undefined) {
    lines.push(result.notLoaded.message);
  }
  return lines;
}

export function describePatchResult(result: PatchResultParams): Outcome {
  const details = detailLines(result);
  const definitions = result.agents.flatMap((a) => a.definitions);
  const failures = definitions.filter((d) => FAILURE.has(d.status));
  if (failures.length > 0) {
    const first = failures[0];
    const more = new Set(failures.map((d) => d.qualname)).size - 1;
    const extra = more > 0 ? ` (+${more})` : '';
    return { text: `✗ ${first.status}: ${shortReason(first)}${extra}`, tone: 'error', details };
  }
  // The server's sentence about a program that did not answer is in the details.
  const broken = result.agents.find((a) => a.error !== undefined);
  if (broken !== undefined) {
    return { text: `✗ error in ${broken.program}`, tone: 'error', details };
  }
  const successes = definitions.filter((d) => SUCCESS.has(d.status));
  if (successes.length > 0) {
    return { text: `✓ ${successes[0].status} ${names(successes)}`, tone: 'success', details };
  }
  if (result.notLoaded !== undefined) {
    const text = result.notLoaded.reason === 'no-program' ? '○ no program running' : '○ file not loaded';
    return { text, tone: 'normal', details };
  }
  return { text: '✓ no changes', tone: 'normal', details };
}

export function renderStatus(model: StatusModel): StatusView {
  switch (model.server) {
    case 'starting':
      return { text: 'Splice: starting…', tooltip: 'Splice: starting splice-lsp', tone: 'normal' };
    case 'stopped':
      return { text: 'Splice: stopped', tooltip: 'Splice: splice-lsp is not running. Run "Splice: Restart Server".', tone: 'warning' };
    case 'failed':
      return {
        text: 'Splice: no server',
        tooltip: `Splice: ${model.problem ?? 'splice-lsp could not start'}`,
        tone: 'error',
      };
    case 'running':
      break;
  }
  const parts = ['Splice'];
  const tooltip: string[] = [];
  if (model.agents !== undefined) {
    parts[0] = `Splice: ${plural(model.agents, 'program')}`;
    tooltip.push(`Splice: ${plural(model.agents, 'program')} running with the agent. Click to list them.`);
  } else {
    tooltip.push('Splice. Click to list the programs running with the agent.');
  }
  if (model.last !== undefined) {
    parts.push(model.last.text);
    tooltip.push('', ...model.last.details);
  }
  return { text: parts.join(' · '), tooltip: tooltip.join('\n'), tone: model.last?.tone ?? 'normal' };
}
