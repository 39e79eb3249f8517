import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { AgentReport, DefinitionReport, DefinitionStatus, PatchResultParams, Reason } from '../../src/protocol';
import { describePatchResult, renderStatus, shortReason } from '../../src/status';

const RANGE = { start: { line: 3, character: 4 }, end: { line: 3, character: 18 } };

function definition(
  qualname: string,
  status: DefinitionStatus,
  reason: Reason = 'code-replaced',
  message = '',
  liveFunctions = 0,
): DefinitionReport {
  return { qualname, status, reason, message, range: RANGE, liveFunctions };
}

function agent(definitions: DefinitionReport[], extra: Partial<AgentReport> = {}): AgentReport {
  return { pid: 4242, program: 'app.py', modules: ['__main__'], definitions, ...extra };
}

function result(agents: AgentReport[], extra: Partial<PatchResultParams> = {}): PatchResultParams {
  return { uri: 'file:///srv/app/my%20app.py', trigger: 'save', agents, ...extra };
}

describe('describePatchResult', () => {
  test('a patched function', () => {
    const outcome = describePatchResult(result([agent([definition('handle_request', 'patched', 'code-replaced', '', 2)])]));
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
      result([
        agent([
          definition('handle_request', 'patched'),
          definition('Handler.handle_request', 'refused', 'closure-changed', message),
        ]),
      ]),
    );
    assert.equal(outcome.text, '✗ refused: closure changed');
    assert.equal(outcome.tone, 'error');
    assert.ok(outcome.details.includes(`app.py (pid 4242): Handler.handle_request refused: ${message}`));
  });

  test('several names, several programs, unchanged ones left out', () => {
    const outcome = describePatchResult(
      result(
        [
          agent([definition('a', 'patched'), definition('b', 'unchanged', 'same-code'), definition('c', 'added', 'created')]),
          agent([definition('a', 'patched'), definition('d', 'patched')], { pid: 7, program: 'worker' }),
        ],
        { trigger: 'patchFile' },
      ),
    );
    assert.equal(outcome.text, '✓ patched a, c +1');
    assert.equal(outcome.details[0], 'Patch file: my app.py');
    assert.equal(outcome.details.length, 5);
    assert.equal(describePatchResult(result([agent([definition('a', 'added', 'created'), definition('b', 'added', 'created')])])).text, '✓ added a, b');
  });

  test('a revert', () => {
    const outcome = describePatchResult(
      result([agent([definition('handle_request', 'reverted', 'reverted')])], { trigger: 'revertFunction' }),
    );
    assert.equal(outcome.text, '✓ reverted handle_request');
    assert.equal(outcome.details[0], 'Revert function: my app.py');
  });

  test('errors, and a program that did not answer', () => {
    const syntax = describePatchResult(
      result([agent([definition('total', 'error', 'syntax-error', "SyntaxError: '(' was never closed")])]),
    );
    assert.equal(syntax.text, "✗ error: SyntaxError: '(' was never closed");
    const two = describePatchResult(
      result([
        agent([
          definition('a', 'error', 'internal', 'x'),
          definition('b', 'refused', 'entry-point', 'y'),
          definition('b', 'refused', 'entry-point', 'y'),
        ]),
      ]),
    );
    assert.equal(two.text, '✗ error: internal error (+1)');
    const silent = describePatchResult(
      result([agent([], { error: 'timed out after 10000 ms: the program did not answer', modules: [] })]),
    );
    assert.equal(silent.text, '✗ error in app.py');
    assert.equal(silent.tone, 'error');
    assert.deepEqual(silent.details.slice(1), [
      'app.py (pid 4242): timed out after 10000 ms: the program did not answer',
    ]);
  });

  test('nothing running, or the file not loaded: decided on the code, whatever the sentence', () => {
    const none = describePatchResult(
      result([], {
        notLoaded: {
          reason: 'no-program',
          message:
            'app.py was not patched: no program is running with the splice agent (looked in /tmp/splice-1000); start one with `python -m splice app.py`',
        },
      }),
    );
    assert.equal(none.text, '○ no program running');
    assert.equal(none.tone, 'normal');
    assert.match(none.details[1], /looked in \/tmp\/splice-1000/);
    const notLoaded = describePatchResult(
      result([agent([definition('f', 'not-loaded', 'file-not-loaded')], { modules: [] })], {
        notLoaded: { reason: 'file-not-loaded', message: 'app.py is not loaded by any running program; searched app.py' },
      }),
    );
    assert.equal(notLoaded.text, '○ file not loaded');
    const reworded = describePatchResult(result([], { notLoaded: { reason: 'no-program', message: 'Kein Programm läuft.' } }));
    assert.equal(reworded.text, '○ no program running');
  });

  test('nothing changed', () => {
    assert.equal(describePatchResult(result([agent([definition('f', 'unchanged', 'same-code')])])).text, '✓ no changes');
    assert.equal(describePatchResult(result([])).text, '✓ no changes');
  });
});

describe('shortReason', () => {
  // reason, message (for people; only shown for errors whose message is the news), expected
  const cases: [Reason, string, string][] = [
    ['closure-changed', "handle_request changed its free variables from ('a',) to ('a', 'b'): …", 'closure changed'],
    ['closure-changed', 'reworded: the enclosing variables differ', 'closure changed'],
    ['kind-changed', 'handle_request was a plain function and is now a generator function: …', 'generator/coroutine kind changed'],
    ['property-changed', 'Shop.total adds an accessor to a live property, which cannot change in place', 'property accessor added'],
    ['container-missing', 'outer is not loaded in the running program', 'enclosing definition not in the program'],
    ['entry-point', 'the `if __name__ == "__main__":` block is never run again', '__main__ block is not run again'],
    ['class-header-changed', 'the bases of Shop changed', 'class header changed'],
    ['file-not-loaded', 'no module of this program is loaded from /x/app.py', 'not loaded in the program'],
    ['syntax-error', 'SyntaxError: invalid syntax. Perhaps you forgot a comma?', 'SyntaxError: invalid syntax. Perhaps you forgot…'],
    ['definition-raised', 'defining make raised NameError: x', 'defining make raised NameError: x'],
    ['statement-raised', 'first line\nsecond line', 'first line'],
    ['decorator-raised', 'x'.repeat(100), `${'x'.repeat(47)}…`],
    ['defaults-raised', '', 'defaults raised'],
    ['not-reached', 'anything at all', 'not reached by the program yet'],
  ];
  for (const [reason, message, expected] of cases) {
    test(`${reason}: ${expected}`, () => {
      assert.equal(shortReason({ reason, message }), expected);
    });
  }

  test('a code this extension does not know yet reads as its words', () => {
    assert.equal(shortReason({ reason: 'frozen-module' as Reason, message: 'ignored' }), 'frozen module');
  });
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
      result([agent([definition('f', 'refused', 'closure-changed', "f changed its free variables from () to ('x',): …")])]),
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
