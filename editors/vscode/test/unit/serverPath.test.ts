import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import {
  bundledPath,
  findOnPath,
  type Lookup,
  processLookup,
  resolveServerPath,
  serverCommand,
} from '../../src/serverPath';

const EXT = '/ext';

function lookup(executables: string[], pathEnv = '/usr/local/bin:/usr/bin', platform: NodeJS.Platform = 'linux'): Lookup {
  const present = new Set(executables);
  return { platform, pathEnv, home: '/home/u', isExecutable: (file) => present.has(file) };
}

function failure(result: ReturnType<typeof resolveServerPath>): string {
  if (result.ok) {
    assert.fail(`expected a failure, got ${JSON.stringify(result)}`);
  }
  return result.message;
}

describe('resolveServerPath', () => {
  test('the setting wins over the bundled binary and PATH', () => {
    const all = lookup(['/opt/splice-lsp', '/ext/server/splice-lsp', '/usr/bin/splice-lsp']);
    assert.deepEqual(resolveServerPath('/opt/splice-lsp', EXT, all), {
      ok: true,
      path: '/opt/splice-lsp',
      source: 'setting',
    });
  });

  test('then the bundled binary, then PATH', () => {
    assert.deepEqual(resolveServerPath('', EXT, lookup(['/ext/server/splice-lsp', '/usr/bin/splice-lsp'])), {
      ok: true,
      path: '/ext/server/splice-lsp',
      source: 'bundled',
    });
    assert.deepEqual(resolveServerPath(undefined, EXT, lookup(['/usr/bin/splice-lsp'])), {
      ok: true,
      path: '/usr/bin/splice-lsp',
      source: 'path',
    });
    assert.deepEqual(resolveServerPath('  ', EXT, lookup(['/usr/local/bin/splice-lsp', '/usr/bin/splice-lsp'])), {
      ok: true,
      path: '/usr/local/bin/splice-lsp',
      source: 'path',
    });
  });

  test('nothing found: the message says how to fix it', () => {
    const message = failure(resolveServerPath('', EXT, lookup([])));
    assert.match(message, /Cannot find splice-lsp/);
    assert.match(message, /cargo install --path \./);
    assert.match(message, /make server/);
    assert.match(message, /"splice\.serverPath"/);
  });

  test('a setting that points nowhere is an error, not a fallback', () => {
    const message = failure(resolveServerPath('/nope/splice-lsp', EXT, lookup(['/usr/bin/splice-lsp'])));
    assert.match(message, /"splice\.serverPath" is "\/nope\/splice-lsp"/);
    assert.match(message, /\/nope\/splice-lsp is not an executable file/);
    assert.match(message, /cargo install/);
  });

  test('~ in the setting is the home folder', () => {
    const result = resolveServerPath('~/bin/splice-lsp', EXT, lookup(['/home/u/bin/splice-lsp']));
    assert.deepEqual(result, { ok: true, path: '/home/u/bin/splice-lsp', source: 'setting' });
  });

  test('a bare name in the setting is looked up on PATH', () => {
    const result = resolveServerPath('splice-lsp-dev', EXT, lookup(['/usr/bin/splice-lsp-dev']));
    assert.deepEqual(result, { ok: true, path: '/usr/bin/splice-lsp-dev', source: 'setting' });
    assert.match(failure(resolveServerPath('splice-lsp-dev', EXT, lookup([]))), /no splice-lsp-dev is on PATH/);
  });

  test('a relative path in the setting is refused: the folder opened never picks the program', () => {
    const found = lookup(['/work/repo/target/release/splice-lsp', '/usr/bin/splice-lsp']);
    assert.match(
      failure(resolveServerPath('target/release/splice-lsp', EXT, found)),
      /"splice\.serverPath" is "target\/release\/splice-lsp", a relative path: set it to the absolute path/,
    );
    assert.match(failure(resolveServerPath('./splice-lsp', EXT, found)), /a relative path/);
  });

  test('Windows: .exe and PATHEXT', () => {
    const present = new Set(['C:\\Cargo\\bin\\splice-lsp.exe', 'C:\\Tools\\splice-lsp.EXE']);
    const windows: Lookup = {
      platform: 'win32',
      pathEnv: 'C:\\Tools;C:\\Cargo\\bin',
      pathExt: '.COM;.EXE',
      isExecutable: (file) => present.has(file),
    };
    assert.deepEqual(resolveServerPath('', 'C:\\ext', windows), {
      ok: true,
      path: 'C:\\Cargo\\bin\\splice-lsp.exe',
      source: 'path',
    });
    assert.deepEqual(resolveServerPath('splice-lsp', 'C:\\ext', windows), {
      ok: true,
      path: 'C:\\Tools\\splice-lsp.EXE',
      source: 'setting',
    });
    assert.equal(bundledPath('C:\\ext', 'win32'), 'C:\\ext\\server\\splice-lsp.exe');
  });
});

describe('findOnPath', () => {
  test('skips empty and relative entries', () => {
    const found = lookup(['bin/splice-lsp', '/b/splice-lsp'], ':bin:.:/b');
    assert.equal(findOnPath('splice-lsp', found), '/b/splice-lsp');
    assert.equal(findOnPath('splice-lsp', { ...found, pathEnv: undefined }), undefined);
  });
});

describe('the real file system', () => {
  test('only executable files count', { skip: process.platform === 'win32' && 'POSIX modes' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splice-vscode-'));
    try {
      const runnable = path.join(dir, 'splice-lsp');
      const plain = path.join(dir, 'notes.txt');
      fs.writeFileSync(runnable, '#!/bin/sh\n', { mode: 0o755 });
      fs.writeFileSync(plain, '', { mode: 0o644 });
      const real = processLookup({ PATH: dir });
      assert.equal(real.isExecutable(runnable), true);
      assert.equal(real.isExecutable(plain), false);
      assert.equal(real.isExecutable(dir), false);
      assert.equal(real.isExecutable(path.join(dir, 'missing')), false);
      assert.deepEqual(resolveServerPath('', '/no/extension', real), { ok: true, path: runnable, source: 'path' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('the server runs LSP on stdio', () => {
  assert.deepEqual(serverCommand('/x/splice-lsp'), { command: '/x/splice-lsp', args: ['--stdio'] });
});
