// The status bar's text, from the connected programs and the last `splice/patchResult`:
// `Splice: 2 programs · ✓ patched handle_request`, `… · ✗ refused: closure changed`.
// No `vscode` here.

import type { AgentReport, DefinitionReport, PatchResultParams } from './protocol';

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

const SUCCESS = new Set(['patched', 'added', 'reverted']);
const FAILURE = new Set(['refused', 'error']);
const MAX_REASON = 48;

function clip(text: string, max = MAX_REASON): string {
  const line = text.split('\n', 1)[0].trim();
  return line.length <= max ? line : `${line.slice(0, max - 1).trimEnd()}…`;
}

/** The agent's message about `qualname`, in a few words. */
export function shortReason(message: string, qualname = ''): string {
  if (/free variables|closure/i.test(message)) {
    return 'closure changed';
  }
  const kinds = /\bwas (?:an? )?(.+?) and is now (?:an? )?(.+?):/.exec(message);
  if (kinds) {
    return `${kinds[1]} → ${kinds[2]}`;
  }
  if (/adds an accessor to a live property/.test(message)) {
    return 'property accessor added';
  }
  if (/is not loaded in the running program/.test(message)) {
    return 'not loaded in the program';
  }
  let text = message.trim();
  if (qualname !== '' && text.startsWith(`${qualname} `)) {
    text = text.slice(qualname.length + 1);
  }
  // `SyntaxError: '(' was never closed` stays whole; otherwise the first clause
  if (!/^[A-Z]\w*(Error|Exception|Warning): /.test(text)) {
    const cut = text.search(/[:;] /);
    if (cut > 0) {
      text = text.slice(0, cut);
    }
  }
  return clip(text) || 'no reason given';
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
    lines.push(result.notLoaded);
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
    return { text: `✗ ${first.status}: ${shortReason(first.message, first.qualname)}${extra}`, tone: 'error', details };
  }
  const broken = result.agents.find((a) => a.error !== undefined);
  if (broken?.error !== undefined) {
    return { text: `✗ error: ${shortReason(broken.error)}`, tone: 'error', details };
  }
  const successes = definitions.filter((d) => SUCCESS.has(d.status));
  if (successes.length > 0) {
    return { text: `✓ ${successes[0].status} ${names(successes)}`, tone: 'success', details };
  }
  if (result.notLoaded !== undefined) {
    const text = /no program is running/.test(result.notLoaded) ? '○ no program running' : '○ file not loaded';
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
