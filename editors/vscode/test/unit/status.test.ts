import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { AgentReport, DefinitionReport, PatchResultParams } from '../../src/protocol';
import { describePatchResult, renderStatus, shortReason } from '../../src/status';

const RANGE = { start: { line: 3, character: 4 }, end: { line: 3, character: 18 } };

function definition(qualname: string, status: string, message = '', liveFunctions = 0): DefinitionReport {
  return { qualname, status, message, range: RANGE, liveFunctions };
}

function agent(definitions: DefinitionReport[], extra: Partial<AgentReport> = {}): AgentReport {
  return { pid: 4242, program: 'app.py', modules: ['__main__'], definitions, ...extra };
}

function result(agents: AgentReport[], extra: Partial<PatchResultParams> = {}): PatchResultParams {
  return { uri: 'file:///srv/app/my%20app.py', trigger: 'save', agents, ...extra };
}

describe('describePatchResult', () => {
  test('a patched function', () => {
    const outcome = describePatchResult(result([agent([definition('handle_request', 'patched', '', 2)])]));
    assert.equal(outcome.text, '✓ patched handle_request');
    assert.equal(outcome.tone, 'success');
    assert.deepEqual(outcome.details, [
      'Patched on save: my app.py',
      'app.py (pid 4242): handle_request patched · 2 live functions',
    ]);
  });

  test('a refusal names its reason in a few words', () => {
    const message =
      "Handler.handle_request now uses zero-argument super() or __class__: a function's closure cannot change in place; restart the program to take this edit";
    const outcome = describePatchResult(
      result([agent([definition('handle_request', 'patched'), definition('Handler.handle_request', 'refused', message)])]),
    );
    assert.equal(outcome.text, '✗ refused: closure changed');
    assert.equal(outcome.tone, 'error');
    assert.ok(outcome.details.includes(`app.py (pid 4242): Handler.handle_request refused: ${message}`));
  });

  test('several names, several programs, unchanged ones left out', () => {
    const outcome = describePatchResult(
      result(
        [
          agent([definition('a', 'patched'), definition('b', 'unchanged'), definition('c', 'added')]),
          agent([definition('a', 'patched'), definition('d', 'patched')], { pid: 7, program: 'worker' }),
        ],
        { trigger: 'patchFile' },
      ),
    );
    assert.equal(outcome.text, '✓ patched a, c +1');
    assert.equal(outcome.details[0], 'Patch file: my app.py');
    assert.equal(outcome.details.length, 5);
    assert.equal(describePatchResult(result([agent([definition('a', 'added'), definition('b', 'added')])])).text, '✓ added a, b');
  });

  test('a revert', () => {
    const outcome = describePatchResult(
      result([agent([definition('handle_request', 'reverted')])], { trigger: 'revertFunction' }),
    );
    assert.equal(outcome.text, '✓ reverted handle_request');
    assert.equal(outcome.details[0], 'Revert function: my app.py');
  });

  test('errors, and a program that did not answer', () => {
    const syntax = describePatchResult(
      result([agent([definition('total', 'error', "SyntaxError: '(' was never closed")])]),
    );
    assert.equal(syntax.text, "✗ error: SyntaxError: '(' was never closed");
    const two = describePatchResult(
      result([agent([definition('a', 'error', 'x'), definition('b', 'refused', 'y'), definition('b', 'refused', 'y')])]),
    );
    assert.equal(two.text, '✗ error: x (+1)');
    const silent = describePatchResult(
      result([agent([], { error: 'timed out after 10000 ms: the program did not answer', modules: [] })]),
    );
    assert.equal(silent.text, '✗ error: timed out after 10000 ms');
    assert.equal(silent.tone, 'error');
    assert.deepEqual(silent.details.slice(1), [
      'app.py (pid 4242): timed out after 10000 ms: the program did not answer',
    ]);
  });

  test('nothing running, or the file not loaded', () => {
    const none = describePatchResult(
      result([], {
        notLoaded:
          'app.py was not patched: no program is running with the splice agent (looked in /tmp/splice-1000); start one with `python -m splice app.py`',
      }),
    );
    assert.equal(none.text, '○ no program running');
    assert.equal(none.tone, 'normal');
    assert.match(none.details[1], /looked in \/tmp\/splice-1000/);
    const notLoaded = describePatchResult(
      result([agent([definition('f', 'not-loaded')], { modules: [] })], {
        notLoaded: 'app.py is not loaded by any running program; searched app.py',
      }),
    );
    assert.equal(notLoaded.text, '○ file not loaded');
  });

  test('nothing changed', () => {
    assert.equal(describePatchResult(result([agent([definition('f', 'unchanged')])])).text, '✓ no changes');
    assert.equal(describePatchResult(result([])).text, '✓ no changes');
  });
});

describe('shortReason', () => {
  const cases: [string, string, string][] = [
    [
      "handle_request changed its free variables from ('a',) to ('a', 'b'): a function's closure cannot change in place; restart the program to take this edit",
      'handle_request',
      'closure changed',
    ],
    [
      'the free variables of outer.<locals>.inner changed (now uses y from the enclosing function): 1 live closure made before this edit keeps the old body; calls of outer() from now on get the new one',
      'outer.<locals>.inner',
      'closure changed',
    ],
    [
      'handle_request was a plain function and is now a generator function: callers already treat its results the old way; restart the program to take this edit',
      'handle_request',
      'plain function → generator function',
    ],
    [
      'Shop.total was a plain function and is now a property: the class attribute cannot change kind in place; restart the program to take this edit',
      'Shop.total',
      'plain function → property',
    ],
    [
      'Shop.total adds an accessor to a live property, which cannot change in place; restart the program to take this edit',
      'Shop.total',
      'property accessor added',
    ],
    ['outer is not loaded in the running program', 'outer.<locals>.inner', 'not loaded in the program'],
    [
      'defining make raised NameError: name "x" is not defined',
      'make',
      'defining make raised NameError',
    ],
    ['inner is new inside outer: patch outer to create it', 'inner', 'is new inside outer'],
    ['SyntaxError: invalid syntax. Perhaps you forgot a comma?', 'f', 'SyntaxError: invalid syntax. Perhaps you forgot…'],
    ['', 'f', 'no reason given'],
    ['x'.repeat(100), 'f', `${'x'.repeat(47)}…`],
    ['first line\nsecond line', 'f', 'first line'],
  ];
  for (const [message, qualname, expected] of cases) {
    test(expected, () => {
      assert.equal(shortReason(message, qualname), expected);
    });
  }
});

describe('renderStatus', () => {
  const last = describePatchResult(result([agent([definition('handle_request', 'patched')])]));

  test('programs and the last result', () => {
    const view = renderStatus({ server: 'running', agents: 2, last });
    assert.equal(view.text, 'Splice: 2 programs · ✓ patched handle_request');
    assert.equal(view.tone, 'success');
    assert.match(view.tooltip, /2 programs running with the agent\. Click to list them\./);
    assert.match(view.tooltip, /app\.py \(pid 4242\): handle_request patched/);
    assert.equal(renderStatus({ server: 'running', agents: 1 }).text, 'Splice: 1 program');
    assert.equal(renderStatus({ server: 'running', agents: 0 }).text, 'Splice: 0 programs');
    assert.equal(renderStatus({ server: 'running' }).text, 'Splice');
  });

  test('a refusal colours the item', () => {
    const refused = describePatchResult(
      result([agent([definition('f', 'refused', "f changed its free variables from () to ('x',): …")])]),
    );
    const view = renderStatus({ server: 'running', agents: 1, last: refused });
    assert.equal(view.text, 'Splice: 1 program · ✗ refused: closure changed');
    assert.equal(view.tone, 'error');
  });

  test('the server not running', () => {
    assert.equal(renderStatus({ server: 'starting' }).text, 'Splice: starting…');
    const failed = renderStatus({ server: 'failed', problem: 'Cannot find splice-lsp' });
    assert.equal(failed.text, 'Splice: no server');
    assert.equal(failed.tone, 'error');
    assert.equal(failed.tooltip, 'Splice: Cannot find splice-lsp');
    assert.equal(renderStatus({ server: 'stopped' }).tone, 'warning');
  });
});
