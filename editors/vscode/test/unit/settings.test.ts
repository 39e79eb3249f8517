import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { expandHome, initializationOptions, objectReader, serverSettings } from '../../src/settings';
import { manifestDefaults } from '../support';

describe('settings sent to splice-lsp', () => {
  test('the manifest defaults make the server defaults', () => {
    assert.deepEqual(initializationOptions(objectReader(manifestDefaults())), {
      splice: {
        patchOnSave: true,
        patchOnAutoSave: false,
        moduleStatements: 'run',
        agents: 'all',
        pids: [],
        successHints: 'all',
        codeLens: true,
        requestTimeoutMs: 10000,
      },
    });
  });

  test('keys that are the extension own are never sent', () => {
    const sent = serverSettings(
      objectReader({ ...manifestDefaults(), serverPath: '/opt/splice-lsp', 'trace.server': 'verbose' }),
    );
    assert.equal('serverPath' in sent, false);
    assert.equal('trace' in sent, false);
    assert.equal('trace.server' in sent, false);
  });

  test('user values pass through', () => {
    assert.deepEqual(
      serverSettings(
        objectReader({
          patchOnSave: false,
          patchOnAutoSave: true,
          moduleStatements: 'ask',
          runtimeDir: ' /run/user/1000/splice ',
          agents: 'pids',
          pids: [41, 42],
          successHints: 'off',
          requestTimeoutMs: 2500,
        }),
      ),
      {
        patchOnSave: false,
        patchOnAutoSave: true,
        moduleStatements: 'ask',
        runtimeDir: '/run/user/1000/splice',
        agents: 'pids',
        pids: [41, 42],
        successHints: 'off',
        requestTimeoutMs: 2500,
      },
    );
  });

  test('values of the wrong type are dropped, so the server never rejects the section', () => {
    assert.deepEqual(
      serverSettings(
        objectReader({
          patchOnSave: 'yes',
          runtimeDir: '',
          agents: 'everyone',
          pids: [1, -2, 3.5, '4', 2 ** 40],
          successHints: true,
          requestTimeoutMs: 1500.6,
        }),
      ),
      { patchOnSave: true, patchOnAutoSave: false, pids: [1], requestTimeoutMs: 1501 },
    );
    assert.deepEqual(serverSettings(objectReader({ requestTimeoutMs: -1 })), {
      patchOnSave: true,
      patchOnAutoSave: false,
    });
    assert.deepEqual(serverSettings(objectReader({})), { patchOnSave: true, patchOnAutoSave: false });
  });

  test('runtimeDir expands ~', () => {
    assert.equal(serverSettings(objectReader({ runtimeDir: '~/run' }), '/home/u').runtimeDir, '/home/u/run');
    assert.equal(expandHome('~', '/home/u'), '/home/u');
    assert.equal(expandHome('/a/~b', '/home/u'), '/a/~b');
    assert.equal(expandHome('~other/x', '/home/u'), '~other/x');
  });
});
